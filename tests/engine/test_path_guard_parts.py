"""The path check's pure parts: socket tables, which repair a broken part gets, verdicts, milestones."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from runner.drill_run import with_flush
from runner.path_guard import PathEvidence, PathGuard, judged
from runner.record import (
    DrillResult,
    Milestone,
    MilestoneName,
    PathCheck,
    PathRepair,
    Verdict,
)
from runner.sockets import listener_view, parse_table

TABLE = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9C4F 00000000:0000 0A 00000000:00001001 00:00000000 00000000     0        0 1 1
   1: 0100007F:B1A0 0100007F:0FA2 02 00000001:00000000 01:00000064 00000000     0        0 2 1
   2: 0100007F:B1A2 0100007F:0FA2 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:9C4F 0100007F:D000 01 00000000:00000000 00:00000000 00000000     0        0 4 1
"""


def test_a_listeners_queue_and_the_dials_to_the_upstream_are_read_from_proc() -> None:
    rows = parse_table(TABLE)
    view = listener_view(rows, listen_port=0x9C4F, upstream_port=0x0FA2)
    assert view.listen_queue == 0x1001  # 4097 clients accepted by the kernel, not the proxy
    assert view.to_upstream == {"SYN-SENT": 1, "ESTABLISHED": 1}
    assert view.describe() == "listen queue 4097, to upstream: ESTABLISHED×1, SYN-SENT×1"
    assert listener_view(rows, 1, 2).describe() == "listener not found, to upstream: none"


def evidence(**changes: Any) -> PathEvidence:
    healthy: dict[str, Any] = {
        "drafts": "0 of 5 enriched",
        "memorykernel": "200 in 1.0 ms",
        "memorykernel_ok": True,
        "through_proxy": "200 in 2.0 ms",
        "through_proxy_ok": True,
        "proxy": "memorykernel enabled",
        "proxy_state": {"listen": "127.0.0.1:1"},
    }
    return PathEvidence(**{**healthy, **changes})


def guard(can_restart: bool = True) -> PathGuard:
    ctx = SimpleNamespace(
        env=SimpleNamespace(memorykernel_release="v0.4.0"),
        endpoints=SimpleNamespace(proxy_name="memorykernel", toxiproxy_url="http://127.0.0.1:1"),
        target=SimpleNamespace(can_restart=can_restart),
    )
    return PathGuard(ctx, lambda _timeout: None, None)  # type: ignore[arg-type, return-value]


def first_repair(seen: PathEvidence, tried: set[str] | None = None) -> str | None:
    step = guard()._next_repair(seen, tried or set())
    return step[0] if step is not None else None


def test_the_broken_part_gets_its_repair_and_each_repair_is_tried_once() -> None:
    assert first_repair(evidence(drift=["disabled"])) == "restore proxy memorykernel (disabled)"
    assert first_repair(evidence(memorykernel_ok=False)) == "restart MemoryKernel v0.4.0"
    jammed = evidence(through_proxy_ok=False)  # MemoryKernel answers, the proxy does not
    assert first_repair(jammed) == "flush proxy memorykernel"
    assert first_repair(jammed, {"flush proxy memorykernel"}) == "re-create proxy memorykernel"
    tried = {"flush proxy memorykernel", "re-create proxy memorykernel"}
    assert first_repair(jammed, tried) is None
    assert first_repair(evidence()) == "restart the consumer"  # only the Drafts fail
    # a consumer of yours mkdrill cannot restart is never swapped for another one
    assert guard(can_restart=False)._next_repair(evidence(), set()) is None
    # Slow Drafts with every part answering are not held against a drill (a busy machine).
    assert not evidence().broken()
    assert all(e.broken() for e in (jammed, evidence(memorykernel_ok=False), evidence(drift=["x"])))


def result(verdict: Verdict = Verdict.PASSED, reason: str = "every assertion held") -> DrillResult:
    return DrillResult(
        name="d", description="d", suites=["nightly"], file="d.yaml", verdict=verdict,
        reason=reason, started_at="2026-01-01T00:00:00Z", duration_s=1.0, fault={},
        fault_window=None, consumer={}, phases=[], probe=[], fallback_reasons={},
        latency_bound_ms=1.0, assertions=[], time_to_restore=None, samples=[],
    )  # fmt: skip


def check(repaired: bool) -> PathCheck:
    repair = PathRepair(action="flush proxy memorykernel", seconds=1.2, outcome="the path answers")
    return PathCheck(
        healthy=False, problem="proxy jammed", repairs=[repair], repaired=repaired, seconds=2.0
    )


def test_a_drill_that_left_the_path_broken_fails_and_an_unrepairable_one_is_an_error() -> None:
    repaired = judged(result(), check(repaired=True))
    assert repaired.verdict is Verdict.FAILED
    assert repaired.reason.startswith("left the path broken, repaired before the next drill")
    assert "flush proxy memorykernel (1.2 s)" in repaired.reason
    assert [(a.name, a.passed) for a in repaired.assertions] == [("path_restored", False)]
    broken = judged(result(Verdict.FAILED, "verify_enriched: ..."), check(repaired=False))
    assert broken.verdict is Verdict.ERROR  # the run stops (exit 3) on it
    assert "could not be repaired" in broken.reason
    assert broken.reason.endswith("(the drill also failed: verify_enriched: ...)")


def test_the_flush_milestone_takes_its_place_in_time() -> None:
    watched = [
        Milestone(name=MilestoneName.SERVICE_UP, at_s=0.5),
        Milestone(name=MilestoneName.HEALTH_VERSIONS, at_s=0.6),
        Milestone(name=MilestoneName.PREFLIGHT_READY, at_s=1.5),
        Milestone(name=MilestoneName.FIRST_ENRICHED_DRAFT, at_s=None),
    ]
    names = [m.name.value for m in with_flush(watched, 0.55)]
    assert names == ["service_up", "proxy_flushed", "health_versions", "preflight_ready",
                     "first_enriched_draft"]  # fmt: skip
    late = [m.name.value for m in with_flush(watched, 2.0)]
    assert late.index("proxy_flushed") == late.index("preflight_ready") - 1
