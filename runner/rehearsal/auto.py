"""The unattended operator (`--auto`): it reads the screen's signals, diagnoses, and works every step.

It waits until the schedule's faults are all in and the first fallback shows, watches for the
scenario's `auto.observe_s`, enters a diagnosis written from what it saw meanwhile (fallback
reasons, codes, preflight, MemoryKernel health), then performs each step in order, waiting for each to verify;
before the summary it enters the scenario's prevention actions. A step that fails, or an incident
that never shows, ends the rehearsal failed with the reason.
"""

from __future__ import annotations

from runner.rehearsal.commands import Abandon, Command, Diagnose, Perform, Prevent
from runner.rehearsal.entries import StepState
from runner.rehearsal.scenario import StepKind
from runner.rehearsal.state import RehearsalState

DETECT_DEADLINE_S = 30.0  # after the last fault went in, a fallback must show by then


def diagnosis_from(state: RehearsalState, since_s: float = 0.0) -> str:
    """A diagnosis in an on-call person's words, from the signals the screen shows (since `since_s`)."""
    recent, recent_codes = state.reasons_since(since_s)
    reasons = ", ".join(f"{r}×{n}" for r, n in recent.most_common(3)) or "none"
    codes = ", ".join(c for c, _ in recent_codes.most_common(3))
    health = state.health.label() if state.health is not None else "not read yet"
    text = f"Drafts fall back with {reasons}"
    if codes:
        text += f" (machine_error_code {codes})"
    return f"{text}; preflight {state.preflight or 'unknown'}; MemoryKernel health {health}"


class AutoOperator:
    """Decides the next commands from the state; pure, so it is tested on a fake clock."""

    def __init__(self, state: RehearsalState) -> None:
        self.state = state

    def commands(self, now: float, faults_all_in: bool) -> list[Command]:
        """What to do at monotonic `now` (nothing while a step runs)."""
        state = self.state
        scenario = state.scenario
        at = state.rel(now)
        if state.ended or state.busy_step is not None or not faults_all_in:
            return []
        if state.first_fallback_s is None:
            if at > scenario.last_injection_s + DETECT_DEADLINE_S:
                return [
                    Abandon(
                        f"the incident never showed: no fallback within {DETECT_DEADLINE_S:g} s of the last fault"
                    )
                ]
            return []
        if not state.diagnoses:
            # Watched for observe_s once the fallbacks show and the last fault is in (starting a
            # fault can disturb the Draft flow before the fault itself does).
            injected = [f.injected_s for f in state.faults if f.injected_s is not None]
            settled = max([state.first_fallback_s, *injected]) + scenario.auto.observe_s
            if at < settled:
                return []
            return [
                Diagnose(diagnosis_from(state, since_s=settled - max(scenario.auto.observe_s, 1.0)))
            ]
        number = state.next_step
        if number is None:
            return []
        step = state.step(number)
        if step.state is StepState.FAILED:
            return [Abandon(f"step {number} ({step.kind.value}) failed: {step.detail}")]
        if step.kind is StepKind.SUMMARY and not state.prevention:
            return [*(Prevent(text) for text in scenario.prevention), Perform(number)]
        return [Perform(number)]
