"""Preflight and enrichment against a stub MemoryKernel: every adapter branch, word for word."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from runner.pins import Pin, default_pin_path, load_pin
from runner.reference.assistsupport.enrichment import AskBody, EnrichmentResult, query_ask
from runner.reference.assistsupport.preflight import ConsumerSettings
from tests.reference.as_stub import (
    API,
    ASK,
    HEALTH,
    SCHEMA,
    V2,
    Reply,
    StubMemoryKernel,
    context_package,
    envelope,
)

# The module fixture is made once: every test of this file runs on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("assistsupport-flow")

TICKET = "  Can I use a USB drive?  "


@pytest.fixture(scope="module")
def pin() -> Pin:
    return load_pin(default_pin_path("v0.4.0"))


@pytest.fixture
def stub() -> Iterator[StubMemoryKernel]:
    with StubMemoryKernel() as server:
        yield server


def ask(
    pin: Pin, url: str, timeout_ms: int = 1000, body: AskBody = AskBody.PATCHED
) -> tuple[EnrichmentResult, float]:
    started = time.monotonic()
    result = query_ask(TICKET, pin, ConsumerSettings(True, url, timeout_ms), body)
    return result, time.monotonic() - started


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_fallback(result: EnrichmentResult, reason: str, preflight: str = "ready") -> None:
    assert result.applied is False
    assert result.status == "fallback"
    assert result.fallback_reason == reason
    assert result.enrichment_text is None
    assert result.preflight.status == preflight


# ---- ready and applied -------------------------------------------------------------------------


def test_applied_enrichment_and_exact_requests(pin: Pin, stub: StubMemoryKernel) -> None:
    result, _ = ask(pin, stub.url)
    assert result.applied is True
    assert result.status == "applied"
    assert result.message == "MemoryKernel enrichment applied"
    assert result.fallback_reason is None and result.machine_error_code is None
    assert result.context_package_id == "cpkg_2026-02-08T12:00:00Z_txn_0123456789abcdef"
    assert result.enrichment_text is not None
    assert result.enrichment_text.startswith("Policy decision: deny\nWhy: ")
    assert result.preflight.ready and result.preflight.enrichment_enabled
    assert result.preflight.message == "MemoryKernel preflight passed (health + schema checks)"
    assert result.preflight.service_contract_version == "service.v3"
    assert stub.routes_called == [HEALTH, SCHEMA, ASK]
    assert stub.requests[1][2] == b""
    assert stub.requests[2][2] == (
        b'{"text":"Can I use a USB drive?","actor":"support_agent","action":"resolve",'
        b'"resource":"support_ticket","as_of":null}'
    )


def test_shipped_body_has_no_as_of(pin: Pin, stub: StubMemoryKernel) -> None:
    ask(pin, stub.url, body=AskBody.SHIPPED)
    assert b"as_of" not in stub.requests[2][2]


def test_health_status_is_compared_lowercased_but_not_trimmed(
    pin: Pin, stub: StubMemoryKernel
) -> None:
    stub.set(HEALTH, Reply(body=envelope({"status": "OK"})))
    assert ask(pin, stub.url)[0].applied is True
    stub.set(HEALTH, Reply(body=envelope({"status": " ok"})))
    assert ask(pin, stub.url)[0].preflight.status == "degraded"


def test_schema_data_may_be_anything(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(SCHEMA, Reply(body=envelope(None)))
    assert ask(pin, stub.url)[0].applied is True


def test_redirected_health_is_followed(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(status=307, body="", headers=(("Location", "/v1/health-moved"),)))
    stub.set(("GET", "/v1/health-moved"), Reply(body=envelope({"status": "ok"})))
    assert ask(pin, stub.url)[0].applied is True


def test_disabled_flag_falls_back_without_any_request(pin: Pin, stub: StubMemoryKernel) -> None:
    settings = ConsumerSettings(enabled=False, base_url=stub.url, timeout_ms=500)
    result = query_ask("\x1c", pin, settings)  # U+001C is not whitespace to Rust: not blank
    assert_fallback(result, "feature-disabled", "disabled")
    assert result.preflight.enabled is False
    assert result.message == "MemoryKernel enrichment is disabled by configuration"
    assert stub.requests == []


# ---- preflight failures ------------------------------------------------------------------------


def test_offline_when_nothing_listens(pin: Pin) -> None:
    url = closed_port_url()
    result, _ = ask(pin, url)
    assert_fallback(result, "offline", "offline")
    assert result.message == (
        f"MemoryKernel service is unavailable at {url}: "
        f"error sending request for url ({url}/v1/health)"
    )
    assert result.machine_error_code is None
    assert result.preflight.ready is False and result.preflight.enabled is True


def test_offline_when_health_hangs_past_the_timeout(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(hang=True))
    result, elapsed = ask(pin, stub.url, timeout_ms=200)
    assert_fallback(result, "offline", "offline")
    assert 0.19 <= elapsed < 2.0
    assert stub.routes_called == [HEALTH]


def test_health_non_2xx_is_offline_with_the_code(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(status=500, body="oops", content_type="text/plain"))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "offline", "offline")
    assert (
        result.message == f"MemoryKernel health check failed with HTTP 500 at {stub.url}/v1/health"
    )


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body="<html>not json</html>", content_type="text/html"),
        Reply(body={"status": "ok"}),
        Reply(body=envelope({"state": "ok"})),
        Reply(body=envelope({"status": "ok"}), truncate=True),
        Reply(body=""),
    ],
    ids=["junk", "wrong-shape", "no-status", "truncated", "empty"],
)
def test_malformed_health(pin: Pin, stub: StubMemoryKernel, reply: Reply) -> None:
    stub.set(HEALTH, reply)
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "malformed-payload", "malformed-payload")
    assert result.message == (
        f"MemoryKernel health payload is not valid JSON envelope at {stub.url}/v1/health"
    )


def test_a_dripping_body_cannot_stretch_the_total_timeout(pin: Pin, stub: StubMemoryKernel) -> None:
    # One byte every 20 ms of a ~90-byte body would take ~2 s; the total timeout is 300 ms.
    stub.set(HEALTH, Reply(body=envelope({"status": "ok"}), drip_s=0.02))
    result, elapsed = ask(pin, stub.url, timeout_ms=300)
    assert_fallback(result, "malformed-payload", "malformed-payload")
    assert 0.29 <= elapsed < 1.0


def test_version_mismatch_on_health_stops_after_one_request(
    pin: Pin, stub: StubMemoryKernel
) -> None:
    stub.set(HEALTH, Reply(body=envelope({"status": "ok"}, V2)))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "version-mismatch", "version-mismatch")
    assert result.message == (
        "MemoryKernel contract mismatch. Expected service.v3/api.v1 but got service.v2/api.v1."
    )
    assert result.preflight.service_contract_version == "service.v2"
    assert result.preflight.api_contract_version == API
    assert stub.routes_called == [HEALTH]


def test_api_version_mismatch(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(body=envelope({"status": "ok"}, api="api.v2")))
    assert ask(pin, stub.url)[0].fallback_reason == "version-mismatch"


def test_degraded_health(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(body=envelope({"status": "degraded"})))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "degraded", "degraded")
    assert result.message == "MemoryKernel health endpoint did not report status=ok"
    assert result.preflight.service_contract_version == "service.v3"
    assert stub.routes_called == [HEALTH]


def test_schema_transport_error_is_schema_unavailable(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(SCHEMA, Reply(hang=True))
    result, elapsed = ask(pin, stub.url, timeout_ms=200)
    assert_fallback(result, "schema-unavailable", "schema-unavailable")
    schema_url = f"{stub.url}/v1/db/schema-version"
    assert result.message == (
        f"MemoryKernel schema check failed at {schema_url}: "
        f"error sending request for url ({schema_url})"
    )
    assert 0.19 <= elapsed < 2.0


def test_schema_non_2xx_is_schema_unavailable(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(SCHEMA, Reply(status=503, body={"error": {"code": "schema_unavailable"}}))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "schema-unavailable", "schema-unavailable")
    assert result.machine_error_code is None  # preflight never reads the body
    assert result.message.endswith(f"with HTTP 503 at {stub.url}/v1/db/schema-version")


def test_malformed_schema(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(SCHEMA, Reply(body="[]"))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "malformed-payload", "malformed-payload")
    assert "schema payload is not valid JSON envelope" in result.message


def test_schema_version_mismatch(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(SCHEMA, Reply(body=envelope({}, V2)))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "version-mismatch", "version-mismatch")
    assert result.preflight.service_contract_version == "service.v2"


def test_redirect_loop_on_health_is_offline(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(status=302, body="", headers=(("Location", "/v1/health"),)))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "offline", "offline")
    assert "error following redirect for url" in result.message
    assert len(stub.requests) == 11


# ---- ask failures ------------------------------------------------------------------------------


def test_ask_timeout(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(hang=True))
    result, elapsed = ask(pin, stub.url, timeout_ms=200)
    assert_fallback(result, "timeout")
    assert result.message == (
        f"MemoryKernel query ask failed: error sending request for url ({stub.url}/v1/query/ask)"
    )
    assert 0.19 <= elapsed < 2.0


def test_ask_connection_dropped_is_query_error(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(close_without_answer=True))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "query-error")


def test_typed_v3_error_uses_the_code_table_and_error_message_suffix(
    pin: Pin, stub: StubMemoryKernel
) -> None:
    body = (
        '{"service_contract_version":"service.v3","error":{"code":"schema_unavailable",'
        '"message":"unsupported schema version 3; expected 2"}}'
    )
    stub.set(ASK, Reply(status=503, body=body))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "schema-unavailable")
    assert result.machine_error_code == "schema_unavailable"
    assert result.message == (
        f"MemoryKernel query ask returned HTTP 503 [schema_unavailable]: {body} "
        "(legacy_error: unsupported schema version 3; expected 2)"
    )


def test_typed_v2_error_reports_legacy_error(pin: Pin, stub: StubMemoryKernel) -> None:
    body = (
        '{"service_contract_version":"service.v3","error":{"code":"validation_error","message":"m"},'
        '"legacy_error":"validation failed"}'
    )
    stub.set(ASK, Reply(status=400, body=body))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "validation-error")
    assert result.message.endswith("(legacy_error: validation failed)")


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (500, "query_failed", "non-2xx"),
        (422, "invalid_json", "validation-error"),
        (404, "context_package_not_found", "context-not-found"),
        (409, "write_conflict", "write-conflict"),
        (500, "brand_new_code", "non-2xx"),
    ],
)
def test_typed_errors_map_by_code_not_status(
    pin: Pin, stub: StubMemoryKernel, status: int, code: str, reason: str
) -> None:
    stub.set(ASK, Reply(status=status, body={"error": {"code": code, "message": "x"}}))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, reason)
    assert result.machine_error_code == code


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (502, "offline"),
        (503, "offline"),
        (429, "offline"),
        (504, "timeout"),
        (408, "timeout"),
        (400, "validation-error"),
        (422, "validation-error"),
        (500, "non-2xx"),
        (404, "non-2xx"),
    ],
)
def test_untyped_non_2xx_maps_by_status(
    pin: Pin, stub: StubMemoryKernel, status: int, reason: str
) -> None:
    stub.set(ASK, Reply(status=status, body="Bad Gateway", content_type="text/plain"))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, reason)
    assert result.machine_error_code is None
    assert result.message == f"MemoryKernel query ask returned HTTP {status}: Bad Gateway"


def test_non_2xx_with_a_stalled_body_reads_as_empty(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(status=503, body={"error": {"code": "schema_unavailable"}}, drip_s=0.05))
    result, elapsed = ask(pin, stub.url, timeout_ms=200)
    assert_fallback(result, "offline")  # body unread within the deadline: no code, status 503
    assert result.message == "MemoryKernel query ask returned HTTP 503: "
    assert elapsed < 1.5


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body="<html>maintenance</html>", content_type="text/html"),
        Reply(body={"answer": {"result": "deny"}}),
        Reply(body=envelope(context_package()), truncate=True),
        Reply(body=envelope(context_package()), drip_s=0.01),
    ],
    ids=["junk", "wrong-shape", "truncated", "stalled"],
)
def test_malformed_ask(pin: Pin, stub: StubMemoryKernel, reply: Reply) -> None:
    stub.set(ASK, reply)
    result, elapsed = ask(pin, stub.url, timeout_ms=300)
    assert_fallback(result, "malformed-payload")
    assert result.message == "MemoryKernel query ask returned malformed JSON envelope"
    assert elapsed < 1.5


def test_ask_version_mismatch_after_preflight_passed(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(body=envelope(context_package(), V2)))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "version-mismatch")
    assert result.message == (
        "MemoryKernel query ask contract mismatch "
        "(expected service.v3/api.v1, got service.v2/api.v1)"
    )
    assert result.preflight.ready is True


def test_empty_context_keeps_the_context_package_id(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(body=envelope({"context_package_id": "cpkg_x", "selected_items": []})))
    result, _ = ask(pin, stub.url)
    assert_fallback(result, "empty-context")
    assert result.context_package_id == "cpkg_x"
    assert result.message == "MemoryKernel returned no actionable context items"


def test_worst_case_latency_is_bounded_by_three_timeouts(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(body=envelope({"status": "ok"}), delay_s=0.15))
    stub.set(SCHEMA, Reply(body=envelope({}), delay_s=0.15))
    stub.set(ASK, Reply(hang=True))
    result, elapsed = ask(pin, stub.url, timeout_ms=200)
    assert_fallback(result, "timeout")
    assert 0.49 <= elapsed < 0.6 + 1.0
