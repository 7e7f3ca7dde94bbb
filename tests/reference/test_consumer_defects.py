"""Each consumer defect, on its own: what the mutant does differently from AssistSupport's rules.

Every test drives the reference consumer twice against the same scripted stub MemoryKernel: as
shipped (`none`), which keeps the rule, and with the defect, which breaks it. Fast: no drill, no
proxy, one Draft or two each. `test_every_defect_has_a_behaviour_test` keeps the catalog and
these tests in step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from runner.consumers.defects import CATALOG, DEFECTS, MUTANTS, ConsumerDefect, parse_defect
from runner.errors import DefinitionError
from runner.pins import Pin, default_pin_path, load_pin
from runner.reference.assistsupport import AssistSupportServer
from tests.reference.as_stub import (
    ASK,
    HEALTH,
    SCHEMA,
    V2,
    Reply,
    StubMemoryKernel,
    envelope,
    healthy_replies,
)

# The module fixture is made once: every test of this file runs on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("consumer-defects")

TICKET = "Customer cannot sync the desktop client after the update."
BASE_URL = "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL"
TIMEOUT = "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"
ENABLE = "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL"


@pytest.fixture(scope="module")
def pin() -> Pin:
    return load_pin(default_pin_path("v0.4.0"))


@pytest.fixture
def stub() -> Iterator[StubMemoryKernel]:
    with StubMemoryKernel() as server:
        yield server


@contextmanager
def consumer(
    pin: Pin, stub: StubMemoryKernel, defect: str, timeout_s: float = 10.0, **env: str
) -> Iterator[httpx.Client]:
    variables = {BASE_URL: stub.url, TIMEOUT: "1000", **env}
    server = AssistSupportServer(pin, defect=defect, env=variables, admin_token="t")
    with server, httpx.Client(base_url=server.url, timeout=timeout_s) as client:
        yield client


def draft(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/draft", json={"ticket": TICKET})


def both(pin: Pin, stub: StubMemoryKernel, defect: str, **env: str) -> tuple[Any, httpx.Response]:
    """(AssistSupport's Draft answer, the mutant's response) on the same stub."""
    with consumer(pin, stub, "none", **env) as client:
        shipped = draft(client)
    assert shipped.status_code == 200, shipped.text
    with consumer(pin, stub, defect, **env) as client:
        mutant = draft(client)
    return shipped.json()["enrichment"], mutant


def enrichment(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["draft"].startswith("Hi,")
    answer: dict[str, Any] = body["enrichment"]
    return answer


# ---- the catalog ------------------------------------------------------------------------------


def test_every_defect_has_a_behaviour_test() -> None:
    tests = {name for name in globals() if name.startswith("test_defect_")}
    wanted = {f"test_defect_{d.value.replace('-', '_')}" for d in MUTANTS}
    assert wanted <= tests, sorted(wanted - tests)
    assert set(MUTANTS) == set(ConsumerDefect) - {ConsumerDefect.NONE}


def test_catalog_names_a_bug_class_and_a_rule_for_each_defect() -> None:
    kinds = ("during:", "fault:", "mode:", "reason:", "codes")
    for info in CATALOG:
        assert info.does and info.bug_class and info.rule and info.likely, info.name
        assert "§" in info.rule, f"{info.name}: name the contract section of the rule it breaks"
        assert all(hint.startswith(kinds) for hint in info.likely), info.name
    assert DEFECTS[ConsumerDefect.DRAFT_BLOCKS].name == "draft-blocks"


def test_unknown_defect_is_bad_input_naming_every_known_one() -> None:
    with pytest.raises(DefinitionError, match="--consumer-defect: unknown consumer defect 'x'"):
        parse_defect("x")
    with pytest.raises(DefinitionError, match="stale-preflight"):
        parse_defect("stale")


def test_the_consumer_says_which_defect_it_runs(pin: Pin, stub: StubMemoryKernel) -> None:
    with consumer(pin, stub, "stale-preflight") as client:
        assert client.get("/v1/health").json() == {"status": "ok", "defect": "stale-preflight"}
    with consumer(pin, stub, "none") as client:
        assert client.get("/v1/health").json()["defect"] == "none"


# ---- one test per defect -----------------------------------------------------------------------


def test_defect_draft_blocks(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(status=502, body="bad gateway", content_type="text/plain"))
    shipped, mutant = both(pin, stub, "draft-blocks")
    assert shipped["fallback_reason"] == "offline"  # the Draft goes on without enrichment
    assert mutant.status_code == 503 and "draft" not in mutant.json()
    assert mutant.json()["error"].startswith("Draft blocked: MemoryKernel enrichment failed")
    stub.set(HEALTH, healthy_replies()[HEALTH])
    with consumer(pin, stub, "draft-blocks") as client:  # enriched Drafts are answered
        assert enrichment(draft(client))["applied"] is True


def test_defect_no_client_timeout(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(hang=True))
    with consumer(pin, stub, "none", **{TIMEOUT: "200"}) as client:
        started = time.monotonic()
        assert enrichment(draft(client))["fallback_reason"] == "timeout"
        assert time.monotonic() - started < 1.5
    with consumer(pin, stub, "no-client-timeout", timeout_s=1.5, **{TIMEOUT: "200"}) as client:
        assert (
            client.get("/v1/admin/env", headers={"Authorization": "Bearer t"}).json()["settings"][
                "timeout_ms"
            ]
            is None
        )
        with pytest.raises(httpx.ReadTimeout):  # still waiting on the ask long after 200 ms
            draft(client)


def test_defect_timeout_far_above_pin(pin: Pin, stub: StubMemoryKernel) -> None:
    healthy = healthy_replies()
    stub.set(ASK, Reply(body=healthy[ASK].body, delay_s=0.8))
    shipped, mutant = both(pin, stub, "timeout-far-above-pin", **{TIMEOUT: "200"})
    assert shipped["fallback_reason"] == "timeout"  # 200 ms, as the variable says
    assert enrichment(mutant)["applied"] is True  # waited 800 ms: its own 30000 ms
    with consumer(pin, stub, "timeout-far-above-pin") as client:
        settings = client.get("/v1/admin/env", headers={"Authorization": "Bearer t"}).json()
    assert settings["settings"]["timeout_ms"] == 30000 and pin.default_timeout_ms == 2500


def test_defect_versions_unchecked(pin: Pin, stub: StubMemoryKernel) -> None:
    for route, reply in healthy_replies(V2).items():
        stub.set(route, reply)
    shipped, mutant = both(pin, stub, "versions-unchecked")
    assert shipped["fallback_reason"] == "version-mismatch"
    assert shipped["preflight"]["service_contract_version"] == "service.v2"
    assert enrichment(mutant)["applied"] is True  # service.v2 under a service.v3 pin
    assert stub.routes_called == [HEALTH, HEALTH, SCHEMA, ASK]


def test_defect_degraded_ignored(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(body=envelope({"status": "degraded"})))
    shipped, mutant = both(pin, stub, "degraded-ignored")
    assert shipped["fallback_reason"] == "degraded"
    assert enrichment(mutant)["applied"] is True


def test_defect_typed_error_as_empty_success(pin: Pin, stub: StubMemoryKernel) -> None:
    typed = {
        "service_contract_version": "service.v3",
        "error": {"code": "query_failed", "message": "x"},
    }
    stub.set(ASK, Reply(status=500, body=typed))
    shipped, mutant = both(pin, stub, "typed-error-as-empty-success")
    assert (shipped["fallback_reason"], shipped["machine_error_code"]) == (
        "non-2xx",
        "query_failed",
    )
    got = enrichment(mutant)
    assert (got["fallback_reason"], got["machine_error_code"]) == ("empty-context", None)


def test_defect_malformed_crashes_draft(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(HEALTH, Reply(body="<html>maintenance</html>", content_type="text/html"))
    shipped, mutant = both(pin, stub, "malformed-crashes-draft")
    assert shipped["fallback_reason"] == "malformed-payload"
    assert mutant.status_code == 500 and "draft" not in mutant.json()
    assert "unhandled MemoryKernel payload error" in mutant.json()["error"]


def test_defect_every_failure_offline(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(SCHEMA, Reply(status=503, body="", content_type="text/plain"))
    shipped, mutant = both(pin, stub, "every-failure-offline")
    assert shipped["fallback_reason"] == "schema-unavailable"
    assert enrichment(mutant)["fallback_reason"] == "offline"
    # The flag off is not a failure: it keeps its own reason.
    _, disabled = both(pin, stub, "every-failure-offline", **{ENABLE: "0"})
    assert enrichment(disabled)["fallback_reason"] == "feature-disabled"


def test_defect_routes_by_legacy_error(pin: Pin, stub: StubMemoryKernel) -> None:
    v3 = {
        "service_contract_version": "service.v3",
        "error": {"code": "schema_unavailable", "message": "m"},
    }
    stub.set(ASK, Reply(status=503, body=v3))
    shipped, mutant = both(pin, stub, "routes-by-legacy-error")
    assert (shipped["fallback_reason"], shipped["machine_error_code"]) == (
        "schema-unavailable",
        "schema_unavailable",
    )
    got = enrichment(mutant)  # service.v3 has no legacy_error: routed by HTTP 503 alone
    assert (got["fallback_reason"], got["machine_error_code"]) == ("offline", None)
    v2 = {**v3, "service_contract_version": "service.v2", "legacy_error": "database is locked"}
    stub.set(ASK, Reply(status=503, body=v2))
    with consumer(pin, stub, "routes-by-legacy-error") as client:
        got = enrichment(draft(client))
    assert (got["fallback_reason"], got["machine_error_code"]) == ("non-2xx", "database is locked")


def test_defect_disabled_flag_ignored(pin: Pin, stub: StubMemoryKernel) -> None:
    with consumer(pin, stub, "none", **{ENABLE: "0"}) as client:
        assert enrichment(draft(client))["fallback_reason"] == "feature-disabled"
    assert stub.requests == []  # AssistSupport makes no HTTP call with the flag off
    with consumer(pin, stub, "disabled-flag-ignored", **{ENABLE: "0"}) as client:
        assert enrichment(draft(client))["applied"] is True
    assert stub.routes_called == [HEALTH, SCHEMA, ASK]


def test_defect_stale_preflight(pin: Pin, stub: StubMemoryKernel) -> None:
    for defect, after_recovery in (("none", True), ("stale-preflight", False)):
        stub.set(HEALTH, Reply(status=502, body="down", content_type="text/plain"))
        with consumer(pin, stub, defect) as client:
            assert enrichment(draft(client))["fallback_reason"] == "offline"
            stub.set(HEALTH, healthy_replies()[HEALTH])  # MemoryKernel is back
            calls = len(stub.requests)
            answer = enrichment(draft(client))
            assert answer["applied"] is after_recovery, (defect, answer)
            if not after_recovery:  # answered from the cached failure, not from MemoryKernel
                assert len(stub.requests) == calls
                assert answer["preflight"]["status"] == "offline"


def test_defect_unbounded_retries(pin: Pin, stub: StubMemoryKernel) -> None:
    down = Reply(status=502, body="down", content_type="text/plain")
    stub.set(HEALTH, down)
    with consumer(pin, stub, "none") as client:
        assert enrichment(draft(client))["fallback_reason"] == "offline"
    assert stub.routes_called == [HEALTH]  # one attempt, then the Draft goes on
    heal = threading.Timer(1.0, lambda: stub.set(HEALTH, healthy_replies()[HEALTH]))
    with consumer(pin, stub, "unbounded-retries") as client:
        started = time.monotonic()
        heal.start()
        answer = enrichment(draft(client))
        waited = time.monotonic() - started
    heal.join()
    assert answer["applied"] is True and waited >= 0.9  # held until MemoryKernel came back
    assert stub.routes_called.count(HEALTH) >= 4


def test_defect_empty_context_applied(pin: Pin, stub: StubMemoryKernel) -> None:
    stub.set(ASK, Reply(body=envelope({"context_package_id": "cpkg_x", "selected_items": []})))
    shipped, mutant = both(pin, stub, "empty-context-applied")
    assert shipped["fallback_reason"] == "empty-context" and shipped["applied"] is False
    got = enrichment(mutant)
    assert got["applied"] is True and got["fallback_reason"] is None
    assert "Diagnostic Notes" not in mutant.json()["draft"]  # enrichment claimed, none given
