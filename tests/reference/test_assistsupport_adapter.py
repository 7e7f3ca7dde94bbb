"""The adapter's pure parts, copied from AssistSupport: env parsing, tables, messages, JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.contract import ERROR_CODE_STATUS
from runner.pins import Pin, default_pin_path, load_pin
from runner.reference.assistsupport import serde_json
from runner.reference.assistsupport.client import ErrorKind, TransportError, decode_text
from runner.reference.assistsupport.enrichment import (
    AskBody,
    EnrichmentResult,
    ask_request_body,
    build_enrichment_text,
    extract_legacy_error_message,
    extract_machine_error_code,
    fallback_reason_for_transport_error,
    fallback_reason_from_status,
    non_2xx_message,
    normalize_machine_error_code,
    preflight_fallback_reason,
)
from runner.reference.assistsupport.preflight import (
    ConsumerSettings,
    parse_base_url,
    parse_enabled,
    parse_envelope,
    parse_timeout_ms,
    read_settings,
    status_template,
)
from runner.reference.assistsupport.server import AdapterError, build_draft, hook_outcome, query_ask

# The module fixture is made once: every test of this file runs on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("assistsupport-adapter")


@pytest.fixture(scope="module")
def pin() -> Pin:
    return load_pin(default_pin_path("v0.4.0"))


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, True),
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("On", True),
        ("\u00a0true\u00a0", True),  # Rust trim() strips Unicode White_Space
        ("0", False),
        ("off", False),
        ("", False),
        ("banana", False),
        ("tru e", False),
        ("\x1ctrue", False),  # Python's strip() would remove U+001C; Rust's trim() keeps it
        ("\u0130", False),  # to_ascii_lowercase leaves non-ASCII alone
    ],
)
def test_feature_flag_parsing(value: str | None, enabled: bool) -> None:
    assert parse_enabled(value) is enabled


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "http://127.0.0.1:4010"),
        ("", "http://127.0.0.1:4010"),
        ("   ", "http://127.0.0.1:4010"),
        (" / ", "http://127.0.0.1:4010"),
        (" http://127.0.0.1:5000/ ", "http://127.0.0.1:5000"),
        ("http://127.0.0.1:5000///", "http://127.0.0.1:5000"),
        ("http://127.0.0.1:5000/base", "http://127.0.0.1:5000/base"),
    ],
)
def test_base_url_parsing(pin: Pin, value: str | None, expected: str) -> None:
    assert parse_base_url(value, pin) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 2500),
        ("500", 500),
        (" 700 ", 700),
        ("+500", 500),  # str::parse::<u64> accepts a leading plus
        ("50", 100),
        ("0", 100),
        ("999999", 30000),
        ("18446744073709551615", 30000),
        ("18446744073709551616", 2500),  # overflows u64: unparseable
        ("-5", 2500),
        ("5.0", 2500),
        ("abc", 2500),
        ("", 2500),
        ("1_000", 2500),
        ("\uff11\uff12\uff13", 2500),  # fullwidth digits are not ASCII digits
    ],
)
def test_timeout_parsing(pin: Pin, value: str | None, expected: int) -> None:
    assert parse_timeout_ms(value, pin) == expected


def test_settings_read_from_mapping(pin: Pin) -> None:
    settings = read_settings(
        pin,
        {
            "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "no",
            "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": "http://127.0.0.1:9/",
            "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "250",
        },
    )
    assert settings == ConsumerSettings(
        enabled=False, base_url="http://127.0.0.1:9", timeout_ms=250
    )


def test_machine_code_table_covers_every_contract_code() -> None:
    expected = {
        "invalid_json": "validation-error",
        "validation_error": "validation-error",
        "context_package_not_found": "context-not-found",
        "write_conflict": "write-conflict",
        "schema_unavailable": "schema-unavailable",
        "migration_failed": "non-2xx",
        "write_failed": "non-2xx",
        "query_failed": "non-2xx",
        "context_lookup_failed": "non-2xx",
        "internal_error": "non-2xx",
    }
    assert set(expected) == set(ERROR_CODE_STATUS)
    assert {code: normalize_machine_error_code(code).value for code in expected} == expected


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("validation_failed", "validation-error"),
        ("invalid_request", "validation-error"),
        ("schema_mismatch", "schema-unavailable"),
        ("version_mismatch", "version-mismatch"),
        ("contract_mismatch", "version-mismatch"),
        ("service_unavailable", "offline"),
        ("upstream_unavailable", "offline"),
        ("timeout", "timeout"),
        ("upstream_timeout", "timeout"),
        (" INVALID_JSON ", "validation-error"),
        ("brand_new_code", "non-2xx"),
    ],
)
def test_machine_code_normalization(code: str, reason: str) -> None:
    assert normalize_machine_error_code(code).value == reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (408, "timeout"),
        (504, "timeout"),
        (502, "offline"),
        (503, "offline"),
        (429, "offline"),
        (400, "validation-error"),
        (422, "validation-error"),
        (500, "non-2xx"),
        (404, "non-2xx"),
        (301, "non-2xx"),
    ],
)
def test_untyped_status_table(status: int, reason: str) -> None:
    assert fallback_reason_from_status(status).value == reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TransportError(ErrorKind.REQUEST, "u", timed_out=True, connect=True), "timeout"),
        (TransportError(ErrorKind.REQUEST, "u", connect=True), "offline"),
        (TransportError(ErrorKind.REQUEST, "u"), "query-error"),
        (TransportError(ErrorKind.BODY, "u"), "query-error"),
        (TransportError(ErrorKind.DECODE, "u"), "query-error"),
        (TransportError(ErrorKind.BUILDER, None), "network-error"),
        (TransportError(ErrorKind.REDIRECT, "u"), "network-error"),
    ],
)
def test_transport_error_order(error: TransportError, reason: str) -> None:
    assert fallback_reason_for_transport_error(error).value == reason


def test_transport_error_display_is_reqwests() -> None:
    url = "http://127.0.0.1:9/v1/health"
    assert str(TransportError(ErrorKind.REQUEST, url)) == f"error sending request for url ({url})"
    assert str(TransportError(ErrorKind.BUILDER, None)) == "builder error"


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("disabled", "feature-disabled"),
        ("offline", "offline"),
        ("schema-unavailable", "schema-unavailable"),
        ("version-mismatch", "version-mismatch"),
        ("malformed-payload", "malformed-payload"),
        ("degraded", "degraded"),
        ("checking", "unknown"),
    ],
)
def test_preflight_reason_table(state: str, reason: str) -> None:
    assert preflight_fallback_reason(state).value == reason


V3_ERROR = (
    '{"service_contract_version":"service.v3","error":{"code":"query_failed","message":"boom"}}'
)
V2_ERROR = (
    '{"service_contract_version":"service.v2","error":{"code":"validation_error",'
    '"message":"validation failed: writer must be provided"},'
    '"legacy_error":"validation failed: writer must be provided"}'
)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (V3_ERROR, "query_failed"),
        (V2_ERROR, "validation_error"),
        ('{"error":{"code":" query_failed "}}', " query_failed "),  # raw, untrimmed
        ('{"error":{"code":"x","message":null}}', "x"),
        ('{"error":["query_failed",null]}', "query_failed"),  # serde reads a struct from an array
        ('{"error":{"code":""}}', None),
        ('{"error":{"code":"   "}}', None),
        ('{"error":{"message":"no code"}}', None),
        ('{"error":{"code":5}}', None),
        ('{"error":{"code":"x","message":5}}', None),  # Option<String> rejects a number
        ('{"error":"query_failed"}', None),
        ('{"error":{"code":"a"},"error":{"code":"b"}}', None),  # duplicate field
        ("<html>", None),
        ("", None),
    ],
)
def test_machine_error_extraction(body: str, code: str | None) -> None:
    assert extract_machine_error_code(body) == code


@pytest.mark.parametrize(
    ("body", "legacy"),
    [
        (V2_ERROR, "validation failed: writer must be provided"),
        (V3_ERROR, "boom"),  # no legacy_error: the string form of `error` is used
        ('{"error":{"code":"c","message":"m"},"legacy_error":"  old  "}', "old"),
        ('{"error":{"code":"c","message":"m"},"legacy_error":""}', "m"),
        ('{"error":{"code":"c","message":"m"},"legacy_error":null}', "m"),
        ('{"error":{"code":"c"}}', "c"),
        ('{"error":{"error":"inner"}}', "inner"),
        ('{"error":"plain text"}', "plain text"),
        ('{"legacy_error":{"message":"obj"}}', "obj"),
        ('{"other":1}', None),
        ("not json", None),
    ],
)
def test_legacy_error_extraction(body: str, legacy: str | None) -> None:
    assert extract_legacy_error_message(body) == legacy


def test_non_2xx_message_formats() -> None:
    assert non_2xx_message(503, "b", "schema_unavailable", "m") == (
        "MemoryKernel query ask returned HTTP 503 [schema_unavailable]: b (legacy_error: m)"
    )
    assert non_2xx_message(500, "b", "query_failed", None) == (
        "MemoryKernel query ask returned HTTP 500 [query_failed]: b"
    )
    assert (
        non_2xx_message(502, "Bad", None, None) == "MemoryKernel query ask returned HTTP 502: Bad"
    )
    assert non_2xx_message(400, "b", None, "x") == (
        "MemoryKernel query ask returned HTTP 400: b (legacy_error: x)"
    )


def _item(record_type: Any = "constraint", memory_id: Any = "m1", reasons: Any = ("r1",)) -> Any:
    item: dict[str, Any] = {}
    if record_type is not None:
        item["record_type"] = record_type
    if memory_id is not None:
        item["memory_id"] = memory_id
    if reasons is not None:
        item["why"] = {"reasons": list(reasons)}
    return item


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (
            {"answer": {"result": "deny", "why": "w"}, "selected_items": [_item()]},
            "Policy decision: deny\nWhy: w\nSelected memory evidence:\n- [constraint] m1: r1",
        ),
        (
            {"answer": {"result": "inconclusive", "why": "none"}, "selected_items": []},
            "Policy decision: inconclusive\nWhy: none",
        ),
        (
            {"selected_items": [_item(None, None, None)]},
            "Selected memory evidence:\n- [unknown] unknown: No reason provided",
        ),
        (
            {"selected_items": [_item(reasons=())]},
            "Selected memory evidence:\n- [constraint] m1: No reason provided",
        ),
        (
            {"selected_items": [_item(reasons=(5,))]},
            "Selected memory evidence:\n- [constraint] m1: No reason provided",
        ),
        (
            {"selected_items": [_item(record_type=3)]},
            "Selected memory evidence:\n- [unknown] m1: r1",
        ),
        (
            {"selected_items": ["not an object"]},
            "Selected memory evidence:\n- [unknown] unknown: No reason provided",
        ),
        ({"answer": {"result": 1, "why": "only why"}}, "Why: only why"),
        ({}, None),
        ({"context_package_id": "c", "selected_items": []}, None),
        ([{"answer": {"result": "deny"}}], None),
        (None, None),
    ],
)
def test_enrichment_text(data: Any, text: str | None) -> None:
    assert build_enrichment_text(data) == text


def test_enrichment_text_keeps_three_items() -> None:
    data = {"selected_items": [_item(memory_id=f"m{i}") for i in range(5)]}
    text = build_enrichment_text(data)
    assert text is not None
    assert text.count("\n- [") == 3
    assert "m3" not in text


def test_ask_bodies_are_byte_exact() -> None:
    assert ask_request_body("Can I?", AskBody.SHIPPED) == (
        b'{"text":"Can I?","actor":"support_agent","action":"resolve","resource":"support_ticket"}'
    )
    assert ask_request_body("Can I?", AskBody.PATCHED) == (
        b'{"text":"Can I?","actor":"support_agent","action":"resolve",'
        b'"resource":"support_ticket","as_of":null}'
    )
    # serde_json keeps non-ASCII as UTF-8 and escapes control characters
    assert ask_request_body("caf\u00e9\n\x01/", AskBody.SHIPPED).startswith(
        '{"text":"caf\u00e9\\n\\u0001/"'.encode()
    )


ENVELOPE = '{"service_contract_version":"service.v3","api_contract_version":"api.v1","data":%s}'


@pytest.mark.parametrize(
    ("body", "health", "ok"),
    [
        (ENVELOPE % '{"status":"ok"}', True, True),
        (ENVELOPE % '{"status":"ok","timeout_ms":2500,"telemetry":{}}', True, True),
        ('["service.v3","api.v1",{"status":"ok"}]', True, True),  # struct as a sequence
        ('["service.v3","api.v1",["ok"]]', True, True),
        ('["service.v3","api.v1"]', True, False),
        (ENVELOPE % "null", False, True),  # `data: Value` may be null but must be present
        ('{"service_contract_version":"service.v3","api_contract_version":"api.v1"}', False, False),
        (ENVELOPE % '{"status":1}', True, False),
        (ENVELOPE % '{"state":"ok"}', True, False),
        (ENVELOPE % "[1]", True, False),
        ('{"service_contract_version":3,"api_contract_version":"api.v1","data":{}}', False, False),
        (ENVELOPE % "{}" + "x", False, False),
        (ENVELOPE % "NaN", False, False),
        (
            '{"service_contract_version":"a","service_contract_version":"b",'
            '"api_contract_version":"api.v1","data":{}}',
            False,
            False,
        ),
        (" \n" + ENVELOPE % "{}" + "\n", False, True),
        ("", False, False),
    ],
)
def test_envelope_acceptance_follows_serde(body: str, health: bool, ok: bool) -> None:
    if ok:
        service, api, _ = parse_envelope(body, health=health)
        assert (service, api) == ("service.v3", "api.v1")
    else:
        with pytest.raises(serde_json.NotDeserializable):
            parse_envelope(body, health=health)


def test_pointer_semantics() -> None:
    value = {"a": [{"b": 1}], "x/y": 2, "m~n": 3}
    assert serde_json.pointer(value, "/a/0/b") == 1
    assert serde_json.pointer(value, "/a/00/b") is None
    assert serde_json.pointer(value, "/a/+0") is None
    assert serde_json.pointer(value, "/x~1y") == 2
    assert serde_json.pointer(value, "/m~0n") == 3
    assert serde_json.pointer(value, "a") is None
    assert serde_json.pointer(value, "") is value


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (b"\xef\xbb\xbf{}", "application/json", "{}"),
        (b"caf\xe9", "text/plain; charset=ISO-8859-1", "caf\u00e9"),
        (b"\x80", "text/plain; charset=latin1", "\u20ac"),  # WHATWG: latin1 is windows-1252
        (b"ok\xff", None, "ok\ufffd"),
        (b"ok", "text/plain; charset=no-such", "ok"),
    ],
)
def test_text_decoding(body: bytes, content_type: str | None, text: str) -> None:
    assert decode_text(body, content_type) == text


@pytest.mark.parametrize("blank", ["", "   ", "\n\t ", "\u3000"])
def test_blank_input_is_an_adapter_error(pin: Pin, blank: str) -> None:
    settings = ConsumerSettings(enabled=True, base_url="http://127.0.0.1:9", timeout_ms=100)
    with pytest.raises(AdapterError, match="user_input cannot be empty"):
        query_ask(blank, pin, settings)


def _result(
    pin: Pin, applied: bool, reason: str | None = None, code: str | None = None
) -> EnrichmentResult:
    preflight = status_template(pin, True, "http://127.0.0.1:4010")
    return EnrichmentResult(
        applied=applied,
        status="applied" if applied else "fallback",
        message="MemoryKernel enrichment applied"
        if applied
        else "MemoryKernel query ask failed: x",
        fallback_reason=reason,
        machine_error_code=code,
        context_package_id="cpkg_1" if applied else None,
        enrichment_text="Policy decision: deny" if applied else None,
        preflight=preflight,
    )


def test_draft_with_enrichment_appends_the_section_under_diagnostic_notes(pin: Pin) -> None:
    draft = build_draft("Printer jams\nsecond line", _result(pin, True))
    assert draft.startswith("Hi,\n\nThanks for reaching out about: Printer jams\n")
    assert draft.endswith(
        "\n\n## Diagnostic Notes\nMemoryKernel Policy Context\nPolicy decision: deny"
    )
    with_notes = build_draft("Printer jams", _result(pin, True), notes="  Checked logs  ")
    assert with_notes.endswith(
        "## Diagnostic Notes\nChecked logs\n\nMemoryKernel Policy Context\nPolicy decision: deny"
    )


def test_draft_without_enrichment_has_no_memorykernel_text(pin: Pin) -> None:
    fallback = _result(pin, False, "timeout")
    assert "MemoryKernel" not in build_draft("Printer jams", fallback)
    assert "## Diagnostic Notes" not in build_draft("Printer jams", fallback, notes="  ")
    assert build_draft("Printer jams", fallback, notes="mine").endswith("## Diagnostic Notes\nmine")
    assert build_draft("Printer jams", fallback) == build_draft("Printer jams", None)


def test_hook_outcome_messages(pin: Pin) -> None:
    applied = hook_outcome(_result(pin, True))
    assert applied["enrichmentApplied"] is True
    assert applied["diagnosticNotes"] == "MemoryKernel Policy Context\nPolicy decision: deny"
    typed = hook_outcome(_result(pin, False, "schema-unavailable", "schema_unavailable"))
    assert typed["message"] == (
        "MemoryKernel query ask failed: x | code=schema_unavailable | "
        "MemoryKernel schema is unavailable. Run migration checks and retry."
    )
    generic = hook_outcome(_result(pin, False, "empty-context"))
    assert generic["message"].endswith(
        "| MemoryKernel fallback is active. Draft flow remains available."
    )
    assert generic["diagnosticNotes"] is None


def test_result_serializes_field_for_field(pin: Pin) -> None:
    payload = json.loads(json.dumps(_result(pin, True).to_dict()))
    assert list(payload) == [
        "applied",
        "status",
        "message",
        "fallback_reason",
        "machine_error_code",
        "context_package_id",
        "enrichment_text",
        "preflight",
    ]
    assert list(payload["preflight"]) == [
        "enabled",
        "ready",
        "enrichment_enabled",
        "status",
        "message",
        "base_url",
        "service_contract_version",
        "api_contract_version",
        "expected_service_contract_version",
        "expected_api_contract_version",
        "integration_baseline",
        "release_tag",
        "commit_sha",
    ]
