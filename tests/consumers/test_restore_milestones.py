"""Restore milestones of a consumer of yours come from its Draft answers, never silently null."""

from __future__ import annotations

from runner.clock import FakeClock
from runner.probes.draft import DraftOutcome
from runner.restore import MilestoneWatch


def watch(outcome: DraftOutcome, repinned_to: str | None = None) -> MilestoneWatch:
    return MilestoneWatch(
        clock=FakeClock(),
        memorykernel_url="http://127.0.0.1:9",
        consumer_url=None,
        expected_versions=("service.v2", "api.v1"),
        draft=lambda: outcome,
        repinned_to=repinned_to,
    )


def answer(preflight: str | None, applied: bool, pin: str | None = None) -> DraftOutcome:
    return DraftOutcome(200, True, applied, None, None, preflight, 5.0, consumer_pin=pin)


def test_preflight_ready_is_read_from_the_draft_answer() -> None:
    assert watch(answer("ready", applied=False))._preflight_ready()
    assert not watch(answer("offline", applied=False))._preflight_ready()
    # a consumer whose answer carries no preflight: an enriched Draft means it passed
    assert watch(answer(None, applied=True))._preflight_ready()
    assert not watch(answer(None, applied=False))._preflight_ready()


def test_the_repin_is_read_from_the_pin_the_draft_answer_names() -> None:
    repinned = answer("ready", True, pin="v0.3.2 service.v2/api.v1")
    assert watch(repinned, repinned_to="v0.3.2")._consumer_repinned()
    still = answer("version-mismatch", False, pin="v0.4.0 service.v3/api.v1")
    assert not watch(still, repinned_to="v0.3.2")._consumer_repinned()
