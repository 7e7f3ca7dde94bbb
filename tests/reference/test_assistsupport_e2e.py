"""The reference consumer against the reference MemoryKernel: each state and fallback, real causes.

Each test drives `POST /v1/draft` on a running consumer and checks that the Draft is produced
(200, non-empty) whatever MemoryKernel does, and that the consumer names the cause correctly.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.backends.admin_token import admin_headers
from runner.faults.responder import FaultResponder
from runner.pins import default_pin_path, load_pin
from runner.probes.seed import POLICY_MEMORY_ID, seed_policy
from runner.reference.assistsupport import AssistSupportServer
from runner.reference.memorykernel import MemoryKernelServer

TICKET = "Customer cannot sync the desktop client after the update; asks whether to reinstall."
CONTRACT = {"v0.3.2": "service.v2", "v0.4.0": "service.v3"}


@contextmanager
def memorykernel(release: str, db: Path, *, seed: bool = True) -> Iterator[MemoryKernelServer]:
    with MemoryKernelServer(release, db) as server:
        if seed:
            seed_policy(server.url)
        yield server


@contextmanager
def consumer(
    pin_tag: str,
    base_url: str,
    *,
    ask_body: str = "patched",
    timeout_ms: int = 1000,
    defect: str = "none",
) -> Iterator[tuple[AssistSupportServer, httpx.Client]]:
    env = {
        "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": base_url,
        "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": str(timeout_ms),
    }
    server = AssistSupportServer(
        load_pin(default_pin_path(pin_tag)),
        ask_body=ask_body,
        defect=defect,
        env=env,
        admin_token="e2e-token",
    )
    headers = admin_headers("e2e-token")
    with server, httpx.Client(base_url=server.url, timeout=30.0, headers=headers) as client:
        yield server, client


def draft(client: httpx.Client) -> tuple[dict[str, Any], float]:
    """One Draft; asserts it was produced. Returns the answer and the client-side latency (s)."""
    started = time.monotonic()
    response = client.post("/v1/draft", json={"ticket": TICKET})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["draft"].startswith("Hi,\n\nThanks for reaching out about: Customer cannot sync")
    return body, elapsed


def fallback(body: dict[str, Any], reason: str, preflight: str) -> dict[str, Any]:
    enrichment: dict[str, Any] = body["enrichment"]
    assert enrichment["applied"] is False, enrichment
    assert enrichment["status"] == "fallback"
    assert enrichment["fallback_reason"] == reason, enrichment
    assert enrichment["preflight"]["status"] == preflight, enrichment["preflight"]
    assert "MemoryKernel Policy Context" not in body["draft"]
    return enrichment


@pytest.fixture(params=["v0.3.2", "v0.4.0"])
def release(request: pytest.FixtureRequest) -> str:
    tag: str = request.param
    return tag


@pytest.fixture
def healthy(release: str, tmp_path: Path) -> Iterator[MemoryKernelServer]:
    with memorykernel(release, tmp_path / "mk.sqlite3") as server:
        yield server


def test_ready_and_applied_with_the_patched_body(release: str, healthy: MemoryKernelServer) -> None:
    with consumer(release, healthy.url) as (_, client):
        body, _ = draft(client)
    enrichment = body["enrichment"]
    assert enrichment["applied"] is True, enrichment
    assert enrichment["preflight"]["status"] == "ready"
    assert enrichment["preflight"]["service_contract_version"] == CONTRACT[release]
    assert enrichment["context_package_id"].startswith("cpkg_")
    assert enrichment["enrichment_text"].startswith("Policy decision: allow\nWhy: ")
    assert f"- [constraint] {POLICY_MEMORY_ID}: " in enrichment["enrichment_text"]
    assert body["draft"].endswith(
        "\n\n## Diagnostic Notes\nMemoryKernel Policy Context\n" + enrichment["enrichment_text"]
    )
    assert body["ask_body"] == "patched"


def test_shipped_body_meets_the_real_422(release: str, healthy: MemoryKernelServer) -> None:
    with consumer(release, healthy.url, ask_body="shipped") as (_, client):
        body, _ = draft(client)
    enrichment = fallback(body, "validation-error", "ready")
    assert enrichment["machine_error_code"] == "invalid_json"
    assert enrichment["message"].startswith(
        "MemoryKernel query ask returned HTTP 422 [invalid_json]: "
    )
    assert "missing field `as_of`" in enrichment["message"]
    assert "(legacy_error: " in enrichment["message"]  # v2 legacy_error, or v3 error.message
    assert body["ask_body"] == "shipped"


def test_fresh_unmigrated_database_is_not_a_fault(release: str, tmp_path: Path) -> None:
    with (
        memorykernel(release, tmp_path / "fresh.sqlite3", seed=False) as mk,
        consumer(release, mk.url) as (_, client),
    ):
        body, _ = draft(client)
    enrichment = body["enrichment"]
    assert enrichment["preflight"]["status"] == "ready"
    assert enrichment["applied"] is True
    assert enrichment["enrichment_text"].startswith("Policy decision: inconclusive")


def test_stopped_service_is_offline(tmp_path: Path) -> None:
    with memorykernel("v0.4.0", tmp_path / "mk.sqlite3") as mk:
        url = mk.url
    with consumer("v0.4.0", url) as (_, client):
        body, _ = draft(client)
    enrichment = fallback(body, "offline", "offline")
    assert enrichment["message"].startswith(f"MemoryKernel service is unavailable at {url}: ")


def test_socket_that_accepts_and_hangs_is_offline_within_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes handshakes; nothing ever answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with consumer("v0.4.0", url, timeout_ms=300) as (_, client):
            body, elapsed = draft(client)
    fallback(body, "offline", "offline")
    assert 0.29 <= elapsed < 0.3 + 1.5
    assert 290 <= body["elapsed_ms"] < 1800


def test_draft_latency_with_a_hanging_memorykernel_stays_bounded(
    healthy: MemoryKernelServer,
) -> None:
    release = healthy.release.tag
    with (
        FaultResponder(healthy.url, "hang") as responder,
        consumer(release, responder.url, timeout_ms=500) as (_, client),
    ):
        latencies = [draft(client)[1] for _ in range(3)]
        body, _ = draft(client)
    fallback(body, "offline", "offline")
    assert all(0.49 <= latency < 0.5 + 1.5 for latency in latencies), latencies


def test_only_the_ask_hangs_gives_timeout(release: str, healthy: MemoryKernelServer) -> None:
    with (
        FaultResponder(healthy.url, "hang@/v1/query/ask") as responder,
        consumer(release, responder.url, timeout_ms=300) as (_, client),
    ):
        body, elapsed = draft(client)
    enrichment = fallback(body, "timeout", "ready")
    assert enrichment["message"].startswith("MemoryKernel query ask failed: error sending request")
    assert 0.29 <= elapsed < 0.3 + 1.5


@pytest.mark.parametrize(
    ("mode", "preflight"),
    [
        ("junk-page", "malformed-payload"),
        ("wrong-shape", "malformed-payload"),
        ("truncate@/v1/health", "malformed-payload"),
        ("junk-page@/v1/query/ask", "ready"),
        ("truncate@/v1/query/ask", "ready"),
    ],
)
def test_non_json_bodies_are_malformed_payload(
    healthy: MemoryKernelServer, mode: str, preflight: str
) -> None:
    release = healthy.release.tag
    with FaultResponder(healthy.url, mode) as responder, consumer(release, responder.url) as (_, c):
        body, _ = draft(c)
    fallback(body, "malformed-payload", preflight)


@pytest.mark.parametrize(("pin_tag", "service_tag"), [("v0.4.0", "v0.3.2"), ("v0.3.2", "v0.4.0")])
def test_the_other_release_is_a_version_mismatch(
    pin_tag: str, service_tag: str, tmp_path: Path
) -> None:
    with (
        memorykernel(service_tag, tmp_path / "mk.sqlite3") as mk,
        FaultResponder(mk.url, "passthrough") as counter,
        consumer(pin_tag, counter.url) as (_, client),
    ):
        body, _ = draft(client)
    enrichment = fallback(body, "version-mismatch", "version-mismatch")
    expected, got = CONTRACT[pin_tag], CONTRACT[service_tag]
    assert enrichment["message"] == (
        f"MemoryKernel contract mismatch. Expected {expected}/api.v1 but got {got}/api.v1."
    )
    assert enrichment["preflight"]["service_contract_version"] == got
    assert [(r.method, r.path) for r in counter.requests] == [("GET", "/v1/health")]


@pytest.mark.parametrize("kind", ["garbage-file", "directory", "missing-parent"])
def test_broken_database_is_schema_unavailable(release: str, tmp_path: Path, kind: str) -> None:
    db = tmp_path / "mk.sqlite3"
    if kind == "garbage-file":
        db.write_bytes(b"this is not a SQLite database\n" * 64)
    elif kind == "directory":
        db.mkdir()
    else:
        db = tmp_path / "no-such-dir" / "mk.sqlite3"
    with memorykernel(release, db, seed=False) as mk, consumer(release, mk.url) as (_, client):
        body, _ = draft(client)
    enrichment = fallback(body, "schema-unavailable", "schema-unavailable")
    assert "with HTTP 503 at" in enrichment["message"]


def test_future_schema_row_is_a_typed_503_on_ask(release: str, tmp_path: Path) -> None:
    db = tmp_path / "mk.sqlite3"
    with memorykernel(release, db):
        pass  # seeding migrated the database to version 2
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("INSERT INTO schema_migrations(version, applied_at) VALUES (3, 'x')")
        conn.commit()
    with memorykernel(release, db, seed=False) as mk, consumer(release, mk.url) as (_, client):
        body, _ = draft(client)
    enrichment = fallback(body, "schema-unavailable", "ready")
    assert enrichment["machine_error_code"] == "schema_unavailable"
    assert enrichment["message"].startswith(
        "MemoryKernel query ask returned HTTP 503 [schema_unavailable]: "
    )
    assert enrichment["message"].endswith(
        "(legacy_error: unsupported schema version 3; expected 2)"
    )


def test_health_rewritten_to_degraded(release: str, healthy: MemoryKernelServer) -> None:
    with (
        FaultResponder(healthy.url, "degraded") as responder,
        consumer(release, responder.url) as (_, client),
    ):
        body, _ = draft(client)
    enrichment = fallback(body, "degraded", "degraded")
    assert enrichment["preflight"]["service_contract_version"] == CONTRACT[release]


def test_flag_off_at_run_time_makes_no_calls(healthy: MemoryKernelServer) -> None:
    release = healthy.release.tag
    with (
        FaultResponder(healthy.url, "passthrough") as counter,
        consumer(release, counter.url) as (
            _,
            client,
        ),
    ):
        assert draft(client)[0]["enrichment"]["applied"] is True
        counter.clear_requests()
        flipped = client.post("/v1/admin/env", json={"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "0"})
        assert flipped.json()["settings"]["enabled"] is False
        body, _ = draft(client)
        assert counter.requests == []
        fallback(body, "feature-disabled", "disabled")
        assert body["enrichment"]["preflight"]["enabled"] is False
        client.post("/v1/admin/env", json={"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": None})
        assert draft(client)[0]["enrichment"]["applied"] is True


@pytest.mark.parametrize(
    ("status", "reason"),
    [(502, "offline"), (504, "timeout"), (422, "validation-error"), (500, "non-2xx")],
)
def test_untyped_non_2xx_on_ask(healthy: MemoryKernelServer, status: int, reason: str) -> None:
    release = healthy.release.tag
    with (
        FaultResponder(healthy.url, f"status:{status}@/v1/query/ask") as responder,
        consumer(release, responder.url) as (_, client),
    ):
        body, _ = draft(client)
    enrichment = fallback(body, reason, "ready")
    assert enrichment["machine_error_code"] is None
    assert enrichment["message"].startswith(
        f"MemoryKernel query ask returned HTTP {status}: {status} "
    )


@pytest.mark.parametrize(("status", "preflight"), [(502, "offline"), (500, "offline")])
def test_untyped_non_2xx_on_health_is_offline(
    healthy: MemoryKernelServer, status: int, preflight: str
) -> None:
    release = healthy.release.tag
    with (
        FaultResponder(healthy.url, f"status:{status}@/v1/health") as responder,
        consumer(release, responder.url) as (_, client),
    ):
        body, _ = draft(client)
    fallback(body, "offline", preflight)


def test_typed_query_failed_on_ask(release: str, healthy: MemoryKernelServer) -> None:
    with (
        FaultResponder(healthy.url, "typed:query_failed@/v1/query/ask") as responder,
        consumer(release, responder.url) as (_, client),
    ):
        body, _ = draft(client)
    enrichment = fallback(body, "non-2xx", "ready")
    assert enrichment["machine_error_code"] == "query_failed"


def test_empty_context_keeps_the_package_id(release: str, healthy: MemoryKernelServer) -> None:
    with (
        FaultResponder(healthy.url, "empty-context") as responder,
        consumer(release, responder.url) as (_, client),
    ):
        body, _ = draft(client)
    enrichment = fallback(body, "empty-context", "ready")
    assert enrichment["context_package_id"].startswith("cpkg_")


def test_recovery_after_the_fault_is_removed(healthy: MemoryKernelServer) -> None:
    release = healthy.release.tag
    with (
        FaultResponder(healthy.url, "junk-page") as responder,
        consumer(release, responder.url) as (_, client),
    ):
        assert draft(client)[0]["enrichment"]["fallback_reason"] == "malformed-payload"
        responder.set_mode("passthrough")
        assert draft(client)[0]["enrichment"]["applied"] is True


def test_draft_blocks_defect_fails_the_draft_on_a_fault(tmp_path: Path) -> None:
    with memorykernel("v0.4.0", tmp_path / "mk.sqlite3") as mk:
        with consumer("v0.4.0", mk.url, defect="draft-blocks") as (_, client):
            assert client.post("/v1/draft", json={"ticket": TICKET}).status_code == 200
        url = mk.url
    with consumer("v0.4.0", url, defect="draft-blocks") as (_, client):
        response = client.post("/v1/draft", json={"ticket": TICKET})
    assert response.status_code == 503
    body = response.json()
    assert "draft" not in body
    assert body["fallback_reason"] == "offline"
    assert body["error"].startswith("Draft blocked: MemoryKernel enrichment failed: ")


def test_no_client_timeout_defect_hangs_but_the_consumer_still_stops(
    healthy: MemoryKernelServer,
) -> None:
    release = healthy.release.tag
    with FaultResponder(healthy.url, "hang@/v1/query/ask") as responder:
        server = AssistSupportServer(
            load_pin(default_pin_path(release)),
            defect="no-client-timeout",
            env={
                "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": responder.url,
                "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "100",  # ignored: no client timeout
            },
        )
        with server, httpx.Client(base_url=server.url, timeout=1.0) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.post("/v1/draft", json={"ticket": TICKET})
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 3.0
