"""What a rehearsal's state adds up to: its measures, whether the incident showed, the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.record import Verdict
from runner.rehearsal.entries import StepState
from runner.rehearsal.record import Measures

if TYPE_CHECKING:
    from runner.rehearsal.state import RehearsalState


def incident_not_shown(state: RehearsalState) -> str | None:
    """Why the incident did not show as the scenario says it does, or None when it did."""
    expect = state.scenario.expect
    wanted = [r.value for r in expect.fallback_reasons]
    if not any(state.fallback_reasons.get(r) for r in wanted):
        seen = ", ".join(f"{k}×{v}" for k, v in sorted(state.fallback_reasons.items())) or "none"
        return f"the incident never showed its fallback ({', '.join(wanted)}; seen: {seen}): the fault did not take effect"
    codes = expect.machine_error_codes
    if codes and not any(state.machine_error_codes.get(c) for c in codes):
        return f"no Draft carried machine_error_code {', '.join(codes)}"
    return None


def measure(state: RehearsalState) -> Measures:
    """Time to detect, to each step, to restore against the budget; Draft availability."""
    diagnosis = state.diagnoses[0].at_s if state.diagnoses else None
    detect = (
        round(max(diagnosis - state.first_fallback_s, 0.0), 4)
        if diagnosis is not None and state.first_fallback_s is not None
        else None
    )
    restored = state.restored_s
    budget = state.scenario.budget_s
    fix = state.fix_requested_s
    return Measures(
        first_fallback_s=state.first_fallback_s,
        diagnosis_s=diagnosis,
        time_to_detect_s=detect,
        fix_requested_s=fix,
        restored_s=restored,
        time_to_restore_s=restored,
        restore_after_fix_s=round(restored - fix, 4)
        if restored is not None and fix is not None
        else None,
        restore_resolution_s=state.restore_resolution_s(),
        budget_s=budget,
        budget_met=None if restored is None else restored <= budget,
        drafts=state.drafts,
        answered=state.answered,
        enriched=state.enriched,
        availability=state.answered / state.drafts if state.drafts else 1.0,
        fallback_reasons=dict(sorted(state.fallback_reasons.items())),
        machine_error_codes=dict(sorted(state.machine_error_codes.items())),
        unannounced_error_codes=sorted(
            c
            for c in state.machine_error_codes
            if state.known_error_codes and c not in state.known_error_codes
        ),
        step_verified_s={str(s.number): s.verified_s for s in state.steps},
    )


def verdict(state: RehearsalState) -> tuple[Verdict, str]:
    """Passed only with every step verified, the restore within budget and every Draft answered."""
    if state.interrupted_by is not None:
        return Verdict.INTERRUPTED, state.end_reason
    problems = [state.abandoned] if state.abandoned else []
    for step in state.steps:
        if step.state is not StepState.VERIFIED:
            found = f": {step.detail}" if step.detail else ""
            problems.append(f"step {step.number} ({step.kind.value}) {step.state.value}{found}")
    measures = measure(state)
    if measures.restored_s is None:
        problems.append("not restored: no enriched Draft after the fix")
    elif not measures.budget_met:
        problems.append(
            f"time to restore {measures.restored_s:.1f} s exceeds the runbook budget "
            f"{measures.budget_s:g} s"
        )
    if measures.answered < measures.drafts:
        problems.append(
            f"{measures.drafts - measures.answered} of {measures.drafts} Drafts not answered"
        )
    missing = incident_not_shown(state)
    if missing:
        problems.append(missing)
    if problems:
        return Verdict.FAILED, "; ".join(dict.fromkeys(problems))
    return (
        Verdict.PASSED,
        f"checklist done; restored in {measures.restored_s:.1f} s of the "
        f"{measures.budget_s:g} s budget; every Draft answered",
    )
