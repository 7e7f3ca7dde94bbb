"""What a rehearsal measures, on synthetic Draft samples and a fake clock: detect, steps, restore, availability."""

from __future__ import annotations

from runner.record import Verdict
from runner.rehearsal.entries import EventKind, StepState
from tests.rehearsal.factory import enriched, fallback, new_state, unanswered


def _work_checklist(state, clock) -> None:  # type: ignore[no-untyped-def]
    """Diagnose at +2 s, freeze at +3 s, fix asked at +4 s and verified at +5 s, summary at +6 s."""
    clock.advance(2.0)
    state.diagnose("MemoryKernel is down", clock.now())
    for number, at in ((1, 3.0), (2, 4.0), (3, 6.0)):
        clock.advance(at - state.rel(clock.now()))
        assert state.request_step(number, clock.now(), perform=True) is None
        state.step_performed(number, True, "done", clock.now())
        if number == 2:
            state.ingest([fallback(4.05), enriched(4.2, latency_ms=30.0), enriched(4.3)])
            clock.advance(1.0)
        state.step_verified(number, True, "checked", clock.now())


def test_time_to_detect_runs_from_the_first_fallback_seen_to_the_diagnosis() -> None:
    state, clock = new_state()
    state.ingest([enriched(-0.5), enriched(0.02), fallback(0.3, latency_ms=200.0), fallback(0.4)])
    assert state.first_fallback_s == 0.41  # answered at 0.4 + 0.01, before the one started at 0.3
    clock.advance(3.0)
    state.diagnose("MemoryKernel is down", clock.now())
    state.diagnose("it was killed", clock.now() + 1)
    measures = state.measures()
    assert measures.diagnosis_s == 3.0 and measures.time_to_detect_s == round(3.0 - 0.41, 4)
    assert [e.kind for e in state.events][:2] == [
        EventKind.INCIDENT_STARTED,
        EventKind.FIRST_FALLBACK,
    ]


def test_time_to_restore_is_the_first_enriched_draft_started_after_the_fix_against_the_budget() -> (
    None
):
    state, clock = new_state()
    state.ingest([fallback(0.1)])
    _work_checklist(state, clock)
    measures = state.measures()
    assert measures.fix_requested_s == 4.0
    assert measures.restored_s == 4.23 and measures.time_to_restore_s == 4.23  # 4.2 + 30 ms
    assert measures.restore_after_fix_s == 0.23
    assert measures.budget_met is True
    assert measures.step_verified_s == {"1": 3.0, "2": 5.0, "3": 6.0}
    assert state.checklist_done
    assert state.verdict() == (
        Verdict.PASSED,
        "checklist done; restored in 4.2 s of the 10 s budget; every Draft answered",
    )


def test_the_restore_carries_its_resolution_from_the_last_draft_after_the_fix_not_enriched() -> (
    None
):
    """Fix at 4.0 s; a Draft asked for at 4.05 s fell back, the one at 4.2 s came back enriched
    at 4.23 s: the restore took effect in the 0.18 s between."""
    state, clock = new_state()
    state.ingest([fallback(0.1)])
    _work_checklist(state, clock)
    measures = state.measures()
    assert measures.restore_after_fix_s == 0.23 and measures.restore_resolution_s == 0.18


def test_with_no_fallback_after_the_fix_the_resolution_runs_from_the_fix() -> None:
    state, clock = new_state()
    clock.advance(4.0)
    state.request_step(2, clock.now(), perform=True)
    state.ingest([fallback(3.9), enriched(4.1, latency_ms=20.0)])  # the fallback began before
    assert state.measures().restore_resolution_s == 0.12


def test_an_enriched_draft_started_before_the_fix_is_no_restore() -> None:
    state, clock = new_state()
    clock.advance(4.0)
    state.request_step(2, clock.now(), perform=True)
    state.ingest([fallback(0.1), enriched(3.9, latency_ms=500.0)])  # answered after, started before
    assert state.restored_s is None


def test_a_restore_over_the_budget_fails_the_rehearsal_and_says_by_how_much() -> None:
    state, clock = new_state()
    state.ingest([fallback(0.1)])
    _work_checklist(state, clock)
    state.restored_s = 12.5
    verdict, reason = state.verdict()
    assert verdict is Verdict.FAILED
    assert reason == "time to restore 12.5 s exceeds the runbook budget 10 s"


def test_an_unanswered_draft_anywhere_in_the_incident_fails_it() -> None:
    state, clock = new_state()
    state.ingest([fallback(0.1), unanswered(1.0), fallback(1.2)])
    _work_checklist(state, clock)
    measures = state.measures()
    assert (measures.drafts, measures.answered) == (6, 5)
    assert measures.availability == 5 / 6
    verdict, reason = state.verdict()
    assert verdict is Verdict.FAILED and "1 of 6 Drafts not answered" in reason


def test_steps_not_verified_and_an_incident_that_never_showed_fail_it() -> None:
    state, clock = new_state()
    state.ingest([fallback(0.1, reason="timeout")])
    clock.advance(1.0)
    state.request_step(1, clock.now(), perform=True)
    state.step_performed(1, True, "frozen", clock.now())
    state.step_verified(1, False, "the deployed trio changed", clock.now())
    verdict, reason = state.verdict()
    assert verdict is Verdict.FAILED
    assert "step 1 (freeze) failed: the deployed trio changed" in reason
    assert "step 2 (remove_faults) pending" in reason
    assert "not restored: no enriched Draft after the fix" in reason
    assert "never showed its fallback (offline; seen: timeout×1)" in reason


def test_one_step_at_a_time_and_an_interrupted_rehearsal_says_by_what() -> None:
    state, clock = new_state()
    assert state.request_step(2, clock.now(), perform=True) is None
    assert state.step(2).state is StepState.PERFORMING and state.busy_step == 2
    assert (
        state.request_step(1, clock.now(), perform=False) == "step 2 is still running; wait for it"
    )
    clock.advance(2.0)
    state.end(clock.now(), "interrupted by SIGINT; faults undone", interrupted_by="SIGINT")
    assert state.ended_s == 2.0
    assert state.verdict() == (Verdict.INTERRUPTED, "interrupted by SIGINT; faults undone")


def test_the_draft_flow_per_second_and_unannounced_codes() -> None:
    state, _ = new_state(known=("query_failed",))
    state.ingest(
        [
            fallback(0.1, "non-2xx", "quota_exceeded"),
            fallback(0.5, "non-2xx", "query_failed"),
            enriched(1.2),
            unanswered(1.5),
        ]
    )
    zero, one, two = state.seconds[0], state.seconds[1], state.seconds[2]
    assert (zero.drafts, zero.answered, zero.enriched) == (2, 2, 0)
    assert zero.reasons == {"non-2xx": 2} and zero.codes == {"quota_exceeded": 1, "query_failed": 1}
    assert (one.drafts, one.enriched) == (1, 1)
    assert two.reasons == {"not answered": 1}  # 1.5 s + 1000 ms
    assert state.measures().unannounced_error_codes == ["quota_exceeded"]


def test_a_draft_answered_out_of_order_moves_the_first_fallback_event() -> None:
    state, _ = new_state()
    state.ingest([fallback(0.3, latency_ms=200.0)])
    state.ingest([fallback(0.4)])
    (event,) = [e for e in state.events if e.kind is EventKind.FIRST_FALLBACK]
    assert event.at_s == 0.41
