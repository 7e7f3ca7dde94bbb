"""AssistSupport's env settings and preflight state machine (contract §3.1, §3.2), step for step."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.contract import TIMEOUT_MS_MAX, TIMEOUT_MS_MIN, PreflightState
from runner.pins import Pin
from runner.reference.assistsupport import serde_json
from runner.reference.assistsupport.client import HttpResponse, HttpSession, TransportError
from runner.reference.assistsupport.rules import AS_SHIPPED, AdapterRules

ENABLE_ENV = "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL"
BASE_URL_ENV = "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL"
TIMEOUT_MS_ENV = "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"
ADAPTER_ENV_NAMES = (ENABLE_ENV, BASE_URL_ENV, TIMEOUT_MS_ENV)

_U64 = re.compile(r"\+?[0-9]+")  # what `str::parse::<u64>` accepts
_U64_MAX = 2**64 - 1
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_ENVELOPE_FIELDS = (
    ("service_contract_version", True),
    ("api_contract_version", True),
    ("data", True),
)


@dataclass(frozen=True)
class ConsumerSettings:
    """The three settings AssistSupport reads fresh on every command call."""

    enabled: bool
    base_url: str
    timeout_ms: int | None  # None only under the no-client-timeout defect


def parse_enabled(value: str | None) -> bool:
    """`parse_bool_env(.., true)`: unset means on; a set value is on only for 1/true/yes/on."""
    if value is None:
        return True
    return serde_json.ascii_lower(serde_json.rust_trim(value)) in _TRUE_WORDS


def parse_base_url(value: str | None, pin: Pin) -> str:
    """Trimmed, trailing slashes removed; empty or unset falls back to the pin's default."""
    if value is None:
        return pin.default_base_url
    cleaned = serde_json.rust_trim(value).rstrip("/")
    return cleaned or pin.default_base_url


def parse_timeout_ms(value: str | None, pin: Pin) -> int:
    """`trim().parse::<u64>()` clamped to 100..=30000; unparseable or unset: the pin's default."""
    if value is None:
        return pin.default_timeout_ms
    text = serde_json.rust_trim(value)
    if not _U64.fullmatch(text) or int(text) > _U64_MAX:
        return pin.default_timeout_ms
    return min(max(int(text), TIMEOUT_MS_MIN), TIMEOUT_MS_MAX)


def read_settings(pin: Pin, env: Mapping[str, str]) -> ConsumerSettings:
    """Resolve the settings from an environment mapping, as one command call does."""
    return ConsumerSettings(
        enabled=parse_enabled(env.get(ENABLE_ENV)),
        base_url=parse_base_url(env.get(BASE_URL_ENV), pin),
        timeout_ms=parse_timeout_ms(env.get(TIMEOUT_MS_ENV), pin),
    )


@dataclass(frozen=True)
class PreflightStatus:
    """`MemoryKernelPreflightStatus`, field for field and in the same order."""

    enabled: bool
    ready: bool
    enrichment_enabled: bool
    status: str
    message: str
    base_url: str
    service_contract_version: str | None
    api_contract_version: str | None
    expected_service_contract_version: str
    expected_api_contract_version: str
    integration_baseline: str
    release_tag: str
    commit_sha: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the Tauri command returns (every field is a plain JSON value)."""
        # Not dataclasses.asdict: its deep copy costs more than the rest of a draft's bookkeeping.
        return {field.name: getattr(self, field.name) for field in _PREFLIGHT_FIELDS}


_PREFLIGHT_FIELDS = dataclasses.fields(PreflightStatus)


def status_template(pin: Pin, enabled: bool, base_url: str) -> PreflightStatus:
    """`preflight_status_template`: the disabled status every preflight starts from."""
    return PreflightStatus(
        enabled=enabled,
        ready=False,
        enrichment_enabled=False,
        status=PreflightState.DISABLED.value,
        message="MemoryKernel enrichment is disabled by configuration",
        base_url=base_url,
        service_contract_version=None,
        api_contract_version=None,
        expected_service_contract_version=pin.expected_service_contract_version,
        expected_api_contract_version=pin.expected_api_contract_version,
        integration_baseline=pin.expected_integration_baseline,
        release_tag=pin.release_tag,
        commit_sha=pin.commit_sha,
    )


def contracts_match(pin: Pin, service_contract_version: str, api_contract_version: str) -> bool:
    """The only runtime check against the pin: exact string equality of both versions."""
    return (
        service_contract_version == pin.expected_service_contract_version
        and api_contract_version == pin.expected_api_contract_version
    )


def parse_envelope(body: str, *, health: bool) -> tuple[str, str, Any]:
    """Read `ServiceEnvelope<HealthData>` (health) or `ServiceEnvelope<Value>`."""
    fields = serde_json.struct_fields(serde_json.parse(body), _ENVELOPE_FIELDS)
    service = serde_json.require_str(fields, "service_contract_version")
    api = serde_json.require_str(fields, "api_contract_version")
    data = fields["data"]
    if health:
        data = serde_json.require_str(serde_json.struct_fields(data, (("status", True),)), "status")
    return service, api, data


def _version_mismatch(status: PreflightStatus, service: str, api: str) -> PreflightStatus:
    return dataclasses.replace(
        status,
        status=PreflightState.VERSION_MISMATCH.value,
        message=(
            "MemoryKernel contract mismatch. Expected "
            f"{status.expected_service_contract_version}/{status.expected_api_contract_version} "
            f"but got {service}/{api}."
        ),
        service_contract_version=service,
        api_contract_version=api,
    )


def read_text_or_empty(response: HttpResponse) -> str:
    """`response.text().await.unwrap_or_default()`: a failed or stalled body reads as ""."""
    try:
        return response.text()
    except TransportError:
        return ""


def run_preflight(
    session: HttpSession,
    pin: Pin,
    enabled: bool,
    base_url: str,
    rules: AdapterRules = AS_SHIPPED,
) -> PreflightStatus:
    """`run_preflight_internal`: health, then schema-version; the first failure decides.

    `rules`: AssistSupport's checks, all on unless a consumer defect switched one off.
    """
    status = status_template(pin, enabled, base_url)
    if not enabled:
        return status
    replace = dataclasses.replace

    try:
        health = session.request("GET", f"{base_url}/v1/health")
    except TransportError as err:
        return replace(
            status,
            status=PreflightState.OFFLINE.value,
            message=f"MemoryKernel service is unavailable at {base_url}: {err}",
        )
    health_body = read_text_or_empty(health)  # read before the status check, as the adapter does
    if not health.is_success:
        return replace(
            status,
            status=PreflightState.OFFLINE.value,
            message=(
                f"MemoryKernel health check failed with HTTP {health.status} "
                f"at {base_url}/v1/health"
            ),
        )
    try:
        service, api, health_status = parse_envelope(health_body, health=True)
    except serde_json.NotDeserializable:
        return replace(
            status,
            status=PreflightState.MALFORMED_PAYLOAD.value,
            message=(
                f"MemoryKernel health payload is not valid JSON envelope at {base_url}/v1/health"
            ),
        )
    if rules.check_versions and not contracts_match(pin, service, api):
        return _version_mismatch(status, service, api)
    status = replace(status, service_contract_version=service, api_contract_version=api)
    if rules.check_health_status and serde_json.ascii_lower(health_status) != "ok":
        return replace(
            status,
            status=PreflightState.DEGRADED.value,
            message="MemoryKernel health endpoint did not report status=ok",
        )

    schema_url = f"{base_url}/v1/db/schema-version"
    try:
        schema = session.request("POST", schema_url)
    except TransportError as err:
        return replace(
            status,
            status=PreflightState.SCHEMA_UNAVAILABLE.value,
            message=f"MemoryKernel schema check failed at {schema_url}: {err}",
        )
    if not schema.is_success:
        schema.close()  # the adapter never reads this body
        return replace(
            status,
            status=PreflightState.SCHEMA_UNAVAILABLE.value,
            message=f"MemoryKernel schema check failed with HTTP {schema.status} at {schema_url}",
        )
    schema_body = read_text_or_empty(schema)
    try:
        service, api, _ = parse_envelope(schema_body, health=False)
    except serde_json.NotDeserializable:
        return replace(
            status,
            status=PreflightState.MALFORMED_PAYLOAD.value,
            message=f"MemoryKernel schema payload is not valid JSON envelope at {schema_url}",
        )
    if rules.check_versions and not contracts_match(pin, service, api):
        return _version_mismatch(status, service, api)
    return replace(
        status,
        ready=True,
        enrichment_enabled=True,
        status=PreflightState.READY.value,
        message="MemoryKernel preflight passed (health + schema checks)",
    )
