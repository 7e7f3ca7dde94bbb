"""AssistSupport's `memory_kernel_query_ask` (contract §3.3): ask, classify, build the text."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from runner.contract import FallbackReason, PreflightState
from runner.pins import Pin
from runner.reference.assistsupport import serde_json
from runner.reference.assistsupport.client import HttpSession, TransportError
from runner.reference.assistsupport.preflight import (
    ConsumerSettings,
    PreflightStatus,
    contracts_match,
    parse_envelope,
    read_text_or_empty,
    run_preflight,
)
from runner.reference.assistsupport.rules import AS_SHIPPED, AdapterRules

PreflightRunner = Callable[[HttpSession, Pin, bool, str], PreflightStatus]
"""Runs the preflight of one command call: `run_preflight` with the consumer's rules."""


class AskBody(StrEnum):
    """Which ask body the consumer sends (contract §3.4)."""

    SHIPPED = "shipped"  # AssistSupport as released: no `as_of`, so the real service answers 422
    PATCHED = "patched"  # the one-line fix: `"as_of": null`


class AdapterError(Exception):
    """The command returned Err (blank input); the frontend hook turns it into `adapter-error`."""


@dataclass(frozen=True)
class EnrichmentResult:
    """`MemoryKernelEnrichmentResult`, field for field and in the same order."""

    applied: bool
    status: str
    message: str
    fallback_reason: str | None
    machine_error_code: str | None
    context_package_id: str | None
    enrichment_text: str | None
    preflight: PreflightStatus

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the Tauri command returns, preflight included."""
        return {
            "applied": self.applied,
            "status": self.status,
            "message": self.message,
            "fallback_reason": self.fallback_reason,
            "machine_error_code": self.machine_error_code,
            "context_package_id": self.context_package_id,
            "enrichment_text": self.enrichment_text,
            "preflight": self.preflight.to_dict(),
        }


_PREFLIGHT_REASONS = {
    PreflightState.DISABLED.value: FallbackReason.FEATURE_DISABLED,
    PreflightState.OFFLINE.value: FallbackReason.OFFLINE,
    PreflightState.SCHEMA_UNAVAILABLE.value: FallbackReason.SCHEMA_UNAVAILABLE,
    PreflightState.VERSION_MISMATCH.value: FallbackReason.VERSION_MISMATCH,
    PreflightState.MALFORMED_PAYLOAD.value: FallbackReason.MALFORMED_PAYLOAD,
    PreflightState.DEGRADED.value: FallbackReason.DEGRADED,
}

_MACHINE_CODE_REASONS = {
    "invalid_json": FallbackReason.VALIDATION_ERROR,
    "validation_failed": FallbackReason.VALIDATION_ERROR,
    "validation_error": FallbackReason.VALIDATION_ERROR,
    "invalid_request": FallbackReason.VALIDATION_ERROR,
    "context_package_not_found": FallbackReason.CONTEXT_NOT_FOUND,
    "write_conflict": FallbackReason.WRITE_CONFLICT,
    "schema_unavailable": FallbackReason.SCHEMA_UNAVAILABLE,
    "schema_mismatch": FallbackReason.SCHEMA_UNAVAILABLE,
    "version_mismatch": FallbackReason.VERSION_MISMATCH,
    "contract_mismatch": FallbackReason.VERSION_MISMATCH,
    "service_unavailable": FallbackReason.OFFLINE,
    "upstream_unavailable": FallbackReason.OFFLINE,
    "timeout": FallbackReason.TIMEOUT,
    "upstream_timeout": FallbackReason.TIMEOUT,
}

_STATUS_REASONS = {
    408: FallbackReason.TIMEOUT,
    504: FallbackReason.TIMEOUT,
    502: FallbackReason.OFFLINE,
    503: FallbackReason.OFFLINE,
    429: FallbackReason.OFFLINE,
    400: FallbackReason.VALIDATION_ERROR,
    422: FallbackReason.VALIDATION_ERROR,
}


def preflight_fallback_reason(state: str) -> FallbackReason:
    """`preflight_fallback_reason`: the preflight state a fallback is named after."""
    return _PREFLIGHT_REASONS.get(state, FallbackReason.UNKNOWN)


def normalize_machine_error_code(code: str) -> FallbackReason:
    """`normalize_machine_error_code`: trimmed, ASCII-lowercased, then the code table."""
    key = serde_json.ascii_lower(serde_json.rust_trim(code))
    return _MACHINE_CODE_REASONS.get(key, FallbackReason.NON_2XX)


def fallback_reason_from_status(status: int) -> FallbackReason:
    """`fallback_reason_from_status_code`: the reason for a non-2xx without a typed code."""
    return _STATUS_REASONS.get(status, FallbackReason.NON_2XX)


def fallback_reason_for_transport_error(err: TransportError) -> FallbackReason:
    """`fallback_reason_for_query_error`, checked in the adapter's order."""
    if err.is_timeout():
        return FallbackReason.TIMEOUT
    if err.is_connect():
        return FallbackReason.OFFLINE
    if err.is_request() or err.is_body() or err.is_decode():
        return FallbackReason.QUERY_ERROR
    return FallbackReason.NETWORK_ERROR


def ask_request_body(text: str, ask_body: AskBody) -> bytes:
    """The ask as serde_json serializes `QueryAskRequest` (compact, non-ASCII kept as UTF-8)."""
    request: dict[str, Any] = {
        "text": text,
        "actor": "support_agent",
        "action": "resolve",
        "resource": "support_ticket",
    }
    if ask_body is AskBody.PATCHED:
        request["as_of"] = None
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def extract_machine_error_code(body: str) -> str | None:
    """`extract_machine_error`: `{"error":{"code":"<non-blank>"}}` gives the raw, untrimmed code."""
    try:
        root = serde_json.struct_fields(serde_json.parse(body), (("error", True),))
        error = serde_json.struct_fields(root["error"], (("code", True), ("message", False)))
        code = serde_json.require_str(error, "code")
        serde_json.optional_str(error, "message")
    except serde_json.NotDeserializable:
        return None
    return code if serde_json.rust_trim(code) else None


def extract_legacy_error_code(body: str) -> str | None:
    """A string `legacy_error` taken as the error's code (what a consumer routing by it reads)."""
    try:
        root = serde_json.struct_fields(serde_json.parse(body), (("legacy_error", False),))
    except serde_json.NotDeserializable:
        return None
    legacy = root.get("legacy_error")
    return legacy if isinstance(legacy, str) and serde_json.rust_trim(legacy) else None


def _legacy_value_to_string(value: Any) -> str | None:
    if isinstance(value, str):
        trimmed = serde_json.rust_trim(value)
        return trimmed or None
    if isinstance(value, dict):
        for key in ("message", "error", "code"):
            text = value.get(key)
            if isinstance(text, str) and serde_json.rust_trim(text):
                return serde_json.rust_trim(text)
    return None


def extract_legacy_error_message(body: str) -> str | None:
    """`extract_legacy_error_message`: `legacy_error`, else the string form of `error`."""
    try:
        root = serde_json.struct_fields(
            serde_json.parse(body), (("error", False), ("legacy_error", False))
        )
    except serde_json.NotDeserializable:
        return None
    legacy = root.get("legacy_error")
    text = _legacy_value_to_string(legacy) if legacy is not None else None
    if text is None and root.get("error") is not None:
        text = _legacy_value_to_string(root["error"])
    return text


def non_2xx_message(status: int, body: str, machine_code: str | None, legacy: str | None) -> str:
    """The fallback message for a non-2xx ask, including the legacy_error suffix rule."""
    code_part = f" [{machine_code}]" if machine_code is not None else ""
    suffix = f" (legacy_error: {legacy})" if legacy is not None else ""
    return f"MemoryKernel query ask returned HTTP {status}{code_part}: {body}{suffix}"


def build_enrichment_text(context_package: Any) -> str | None:
    """`build_enrichment_text`: decision, why, and up to three evidence lines; None when empty."""
    lines: list[str] = []
    result = serde_json.pointer(context_package, "/answer/result")
    if isinstance(result, str):
        lines.append(f"Policy decision: {result}")
    why = serde_json.pointer(context_package, "/answer/why")
    if isinstance(why, str):
        lines.append(f"Why: {why}")
    items = serde_json.get(context_package, "selected_items")
    if isinstance(items, list) and items:
        lines.append("Selected memory evidence:")
        for item in items[:3]:
            record_type = serde_json.get(item, "record_type")
            memory_id = serde_json.get(item, "memory_id")
            reasons = serde_json.pointer(item, "/why/reasons")
            reason = reasons[0] if isinstance(reasons, list) and reasons else None
            lines.append(
                f"- [{record_type if isinstance(record_type, str) else 'unknown'}] "
                f"{memory_id if isinstance(memory_id, str) else 'unknown'}: "
                f"{reason if isinstance(reason, str) else 'No reason provided'}"
            )
    return "\n".join(lines) if lines else None


def _fallback(
    preflight: PreflightStatus,
    message: str,
    reason: FallbackReason,
    machine_error_code: str | None = None,
) -> EnrichmentResult:
    return EnrichmentResult(
        applied=False,
        status="fallback",
        message=message,
        fallback_reason=reason.value,
        machine_error_code=machine_error_code,
        context_package_id=None,
        enrichment_text=None,
        preflight=preflight,
    )


def query_ask(
    user_input: str,
    pin: Pin,
    settings: ConsumerSettings,
    ask_body: AskBody = AskBody.SHIPPED,
    *,
    session: HttpSession | None = None,
    rules: AdapterRules = AS_SHIPPED,
    preflight: PreflightRunner | None = None,
) -> EnrichmentResult:
    """`memory_kernel_query_ask`: preflight, then the ask; every failure is a fallback result.

    Raises AdapterError for blank input, as the command returns Err. A fresh HttpSession (the
    per-call reqwest client) is built unless one is given; a given session is not closed here.
    `rules` and `preflight` are AssistSupport's unless a consumer defect changes them.
    """
    trimmed = serde_json.rust_trim(user_input)
    if not trimmed:
        raise AdapterError("user_input cannot be empty")
    own_session = session is None
    active = session if session is not None else HttpSession(settings.timeout_ms)
    run_call: PreflightRunner = preflight or (
        lambda s, p, enabled, base_url: run_preflight(s, p, enabled, base_url, rules)
    )
    try:
        return _ask(active, trimmed, pin, settings, ask_body, rules, run_call)
    finally:
        if own_session:
            active.close()


def _ask(
    session: HttpSession,
    text: str,
    pin: Pin,
    settings: ConsumerSettings,
    ask_body: AskBody,
    rules: AdapterRules,
    run_preflight_call: PreflightRunner,
) -> EnrichmentResult:
    base_url = settings.base_url
    preflight = run_preflight_call(session, pin, settings.enabled, base_url)
    if not preflight.enrichment_enabled:
        return _fallback(preflight, preflight.message, preflight_fallback_reason(preflight.status))

    try:
        response = session.request(
            "POST",
            f"{base_url}/v1/query/ask",
            body=ask_request_body(text, ask_body),
            content_type="application/json",
        )
    except TransportError as err:
        return _fallback(
            preflight,
            f"MemoryKernel query ask failed: {err}",
            fallback_reason_for_transport_error(err),
        )

    if not response.is_success:
        body = read_text_or_empty(response)
        machine_code = (
            extract_machine_error_code(body)
            if rules.error_code_from == "error.code"
            else extract_legacy_error_code(body)
        )
        legacy = extract_legacy_error_message(body)
        reason = (
            normalize_machine_error_code(machine_code)
            if machine_code is not None
            else fallback_reason_from_status(response.status)
        )
        return _fallback(
            preflight,
            non_2xx_message(response.status, body, machine_code, legacy),
            reason,
            machine_code,
        )

    body = read_text_or_empty(response)
    try:
        service, api, data = parse_envelope(body, health=False)
    except serde_json.NotDeserializable:
        return _fallback(
            preflight,
            "MemoryKernel query ask returned malformed JSON envelope",
            FallbackReason.MALFORMED_PAYLOAD,
        )
    if rules.check_versions and not contracts_match(pin, service, api):
        return _fallback(
            preflight,
            "MemoryKernel query ask contract mismatch (expected "
            f"{pin.expected_service_contract_version}/{pin.expected_api_contract_version}, "
            f"got {service}/{api})",
            FallbackReason.VERSION_MISMATCH,
        )

    context_id = serde_json.get(data, "context_package_id")
    context_package_id = context_id if isinstance(context_id, str) else None
    enrichment_text = build_enrichment_text(data)
    if enrichment_text is None:
        return EnrichmentResult(
            applied=False,
            status="fallback",
            message="MemoryKernel returned no actionable context items",
            fallback_reason=FallbackReason.EMPTY_CONTEXT.value,
            machine_error_code=None,
            context_package_id=context_package_id,
            enrichment_text=None,
            preflight=preflight,
        )
    return EnrichmentResult(
        applied=True,
        status="applied",
        message="MemoryKernel enrichment applied",
        fallback_reason=None,
        machine_error_code=None,
        context_package_id=context_package_id,
        enrichment_text=enrichment_text,
        preflight=preflight,
    )
