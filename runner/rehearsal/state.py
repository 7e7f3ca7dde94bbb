"""The rehearsal as data: events, the checklist, the Draft flow second by second, what is measured.

Pure: nothing here reads a clock, touches the environment or draws. The session hands in every
time (monotonic seconds) and every Draft sample, so the logic is tested on a fake clock. Times
kept are seconds since the incident started.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

from runner.probes.sampler import TimedSample
from runner.record import Verdict
from runner.rehearsal import judge
from runner.rehearsal.entries import (
    Actor,
    Event,
    EventKind,
    FaultProgress,
    Second,
    StepProgress,
    StepState,
)
from runner.rehearsal.health import HealthReading
from runner.rehearsal.record import (
    ContractRun,
    InjectedFault,
    Measures,
    OperatorEntry,
    RehearsalEvent,
    StepResult,
)
from runner.rehearsal.scenario import FIX_STEPS, Scenario


class RehearsalState:
    """Everything the rehearsal knows; every change goes through a method given the time."""

    def __init__(
        self,
        scenario: Scenario,
        origin: float,
        utc: Callable[[], str],
        faults: Iterable[FaultProgress] = (),
        known_error_codes: Iterable[str] = (),
    ) -> None:
        self.scenario = scenario
        self.origin = origin  # monotonic time the incident started
        self._utc = utc
        self.events: list[Event] = []
        self.steps = [
            StepProgress(number, step.step, step.title)
            for number, step in enumerate(scenario.checklist, start=1)
        ]
        self.faults = list(faults)
        self.known_error_codes = frozenset(known_error_codes)
        self.seconds: dict[int, Second] = {}
        self.diagnoses: list[OperatorEntry] = []
        self.prevention: list[OperatorEntry] = []
        self.notes: list[OperatorEntry] = []
        self.contract_runs: list[ContractRun] = []
        self.drafts = self.answered = self.enriched = 0
        self.fallback_reasons: Counter[str] = Counter()
        self.machine_error_codes: Counter[str] = Counter()
        self.first_fallback_s: float | None = None
        self.fix_requested_s: float | None = None
        self.restored_s: float | None = None
        self._restoring_draft_s: float | None = None  # when the Draft that restored_s ends began
        self._unenriched_after_fix: list[float] = []  # starts of Drafts after the fix not enriched
        self.preflight: str | None = None
        self.health: HealthReading | None = None
        self.busy_step: int | None = None
        self.message = ""
        self.ended_s: float | None = None
        self.end_reason = ""
        self.interrupted_by: str | None = None
        self.abandoned: str | None = None
        self.started = False

    def start_incident(self, now: float) -> None:
        """The first fault goes in now: every time from here is counted from this moment."""
        self.origin, self.started = now, True
        self._add(0.0, EventKind.INCIDENT_STARTED, Actor.MKDRILL, "incident started")

    # Time --------------------------------------------------------------------------------------

    def rel(self, now: float) -> float:
        """Seconds since the incident started."""
        return round(now - self.origin, 4)

    def _add(
        self,
        at_s: float,
        kind: EventKind,
        actor: Actor,
        text: str,
        step: int | None = None,
        reveals_fault: bool = False,
    ) -> None:
        self.events.append(Event(at_s, self._utc(), kind, actor, text, step, reveals_fault))

    # The Draft flow -----------------------------------------------------------------------------

    def ingest(self, samples: Iterable[TimedSample]) -> None:
        """Count Drafts answered since the last call (in completion order)."""
        if not self.started:
            return
        for sample in samples:
            outcome = sample.outcome
            started = sample.started - self.origin
            done = started + outcome.latency_ms / 1000
            if outcome.preflight_status:
                self.preflight = outcome.preflight_status
            if started < 0:
                continue  # the steady state before the incident: not part of what is measured
            bucket = self.seconds.setdefault(math.floor(done), Second(math.floor(done)))
            bucket.drafts += 1
            self.drafts += 1
            bucket.answered += outcome.ok
            self.answered += outcome.ok
            if outcome.ok and outcome.applied:
                bucket.enriched += 1
                self.enriched += 1
                if (
                    self.fix_requested_s is not None
                    and started >= self.fix_requested_s
                    and (self.restored_s is None or done < self.restored_s)
                ):
                    self.restored_s = round(done, 4)
                    self._restoring_draft_s = started
                    self._set_once(
                        EventKind.RESTORED, self.restored_s, "first enriched Draft after the fix"
                    )
                continue
            if self.fix_requested_s is not None and started >= self.fix_requested_s:
                self._unenriched_after_fix.append(started)
            reason = outcome.fallback_reason or ("not answered" if not outcome.ok else "unknown")
            bucket.reasons[reason] += 1
            self.fallback_reasons[reason] += 1
            if outcome.machine_error_code:
                bucket.codes[outcome.machine_error_code] += 1
                self.machine_error_codes[outcome.machine_error_code] += 1
            if self.first_fallback_s is None or done < self.first_fallback_s:
                self.first_fallback_s = round(done, 4)
                code = f" {outcome.machine_error_code}" if outcome.machine_error_code else ""
                self._set_once(
                    EventKind.FIRST_FALLBACK,
                    self.first_fallback_s,
                    f"first fallback seen: {reason}{code}",
                )

    def _set_once(self, kind: EventKind, at_s: float, text: str) -> None:
        """The one event of `kind`, at the earliest time seen (a Draft answered out of order moves it)."""
        self.events = [e for e in self.events if e.kind is not kind]
        self._add(at_s, kind, Actor.MKDRILL, text)

    def reasons_since(self, since_s: float) -> tuple[Counter[str], Counter[str]]:
        """Fallback reasons and machine_error_codes of the Drafts answered from second `since_s` on."""
        reasons: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        for second, bucket in self.seconds.items():
            if second >= math.floor(since_s):
                reasons.update(bucket.reasons)
                codes.update(bucket.codes)
        return reasons, codes

    def observe_health(self, reading: HealthReading | None) -> None:
        """The newest MemoryKernel health reading."""
        if reading is not None:
            self.health = reading

    # Faults ------------------------------------------------------------------------------------

    def fault_injected(self, index: int, now: float) -> None:
        """Scheduled fault `index` went in."""
        fault = self.faults[index]
        fault.injected_s = self.rel(now)
        self._add(
            fault.injected_s,
            EventKind.FAULT_INJECTED,
            Actor.MKDRILL,
            f"injected {fault.description}",
            reveals_fault=True,
        )

    def fault_removed(self, index: int, now: float, by: str) -> None:
        """Scheduled fault `index` was undone: by its schedule, the fix, or the cleanup."""
        fault = self.faults[index]
        if fault.removed_s is not None:
            return
        fault.removed_s, fault.removed_by = self.rel(now), by
        self._add(
            fault.removed_s,
            EventKind.FAULT_REMOVED,
            Actor.MKDRILL,
            f"removed {fault.description} ({by})",
            reveals_fault=True,
        )

    # Operator entries ----------------------------------------------------------------------------

    def diagnose(self, text: str, now: float, actor: Actor = Actor.OPERATOR) -> None:
        """A diagnosis; the first one stops the time to detect."""
        at = self.rel(now)
        self.diagnoses.append(OperatorEntry(at_s=at, text=text, actor=actor.value))
        self._add(at, EventKind.DIAGNOSIS, actor, f"diagnosis: {text}")
        self.message = f"diagnosis recorded at +{at:.1f}s"

    def note(self, text: str, now: float, actor: Actor = Actor.OPERATOR) -> None:
        """A note for the summary."""
        at = self.rel(now)
        self.notes.append(OperatorEntry(at_s=at, text=text, actor=actor.value))
        self._add(at, EventKind.NOTE, actor, f"note: {text}")
        self.message = f"note recorded at +{at:.1f}s"

    def prevent(self, text: str, now: float, actor: Actor = Actor.OPERATOR) -> None:
        """A prevention action for the summary."""
        at = self.rel(now)
        self.prevention.append(OperatorEntry(at_s=at, text=text, actor=actor.value))
        self._add(at, EventKind.PREVENTION, actor, f"prevention action: {text}")
        self.message = f"prevention action recorded at +{at:.1f}s"

    # Checklist ---------------------------------------------------------------------------------

    def step(self, number: int) -> StepProgress:
        """Checklist step `number` (1-based)."""
        return self.steps[number - 1]

    @property
    def next_step(self) -> int | None:
        """The first step not verified yet."""
        return next((s.number for s in self.steps if s.state is not StepState.VERIFIED), None)

    def request_step(
        self, number: int, now: float, perform: bool, actor: Actor = Actor.OPERATOR
    ) -> str | None:
        """Ask for a step to be performed (or only verified); the refusal's reason, or None."""
        if self.busy_step is not None:
            return f"step {self.busy_step} is still running; wait for it"
        step = self.step(number)
        at = self.rel(now)
        step.requested_s = at if step.requested_s is None else step.requested_s
        step.attempts += 1
        step.state = StepState.PERFORMING if perform else StepState.VERIFYING
        self.busy_step = number
        if perform and step.kind in FIX_STEPS and self.fix_requested_s is None:
            self.fix_requested_s = at
        verb = "perform" if perform else "verify"
        self._add(
            at, EventKind.STEP_REQUESTED, actor, f"{verb} step {number}: {step.title}", number
        )
        self.message = f"step {number}: {verb}ing …"
        return None

    def step_performed(self, number: int, ok: bool, detail: str, now: float) -> None:
        """mkdrill performed the step (then verifies it) or could not."""
        step = self.step(number)
        at = self.rel(now)
        step.detail = detail
        if ok:
            step.performed_s = at
            step.state = StepState.VERIFYING
            self._add(
                at,
                EventKind.STEP_PERFORMED,
                Actor.MKDRILL,
                f"step {number} performed: {detail}",
                number,
            )
            self.message = f"step {number} performed; verifying …"
            return
        step.state = StepState.FAILED
        self.busy_step = None
        self._add(
            at,
            EventKind.STEP_FAILED,
            Actor.MKDRILL,
            f"step {number} not performed: {detail}",
            number,
        )
        self.message = f"step {number} failed: {detail}"

    def step_verified(self, number: int, ok: bool, detail: str, now: float) -> None:
        """mkdrill checked the step: done, or not (with what it found)."""
        step = self.step(number)
        at = self.rel(now)
        step.detail = detail
        self.busy_step = None
        if ok:
            step.state, step.verified_s = StepState.VERIFIED, at
            self._add(
                at,
                EventKind.STEP_VERIFIED,
                Actor.MKDRILL,
                f"step {number} verified: {detail}",
                number,
            )
            self.message = f"step {number} verified"
            return
        step.state = StepState.FAILED
        self._add(
            at,
            EventKind.STEP_FAILED,
            Actor.MKDRILL,
            f"step {number} not verified: {detail}",
            number,
        )
        self.message = f"step {number} not verified: {detail}"

    def contract_ran(self, run: ContractRun) -> None:
        """A contract and CI re-run finished."""
        self.contract_runs.append(run)
        failed = [c.name for c in run.checks if not c.passed]
        text = "passed" if run.passed else f"failed: {', '.join(failed)}"
        self._add(
            round(run.started_s + run.duration_s, 4),
            EventKind.CONTRACT_RUN,
            Actor.MKDRILL,
            f"contract and CI re-run against {run.target} {text}",
        )

    @property
    def checklist_done(self) -> bool:
        """Every step verified."""
        return all(s.state is StepState.VERIFIED for s in self.steps)

    # The end -----------------------------------------------------------------------------------

    def abandon(self, reason: str, now: float) -> None:
        """The unattended operator gives up: the rehearsal ends, failed."""
        self.abandoned = reason
        self.end(now, reason)

    def end(self, now: float, reason: str, interrupted_by: str | None = None) -> None:
        """The rehearsal is over (checklist done, abandoned, or interrupted)."""
        if self.ended_s is not None:
            return
        self.ended_s, self.end_reason, self.interrupted_by = self.rel(now), reason, interrupted_by
        self._add(self.ended_s, EventKind.ENDED, Actor.MKDRILL, reason)

    @property
    def ended(self) -> bool:
        """The rehearsal is over."""
        return self.ended_s is not None

    def expected_signal_seen(self) -> str | None:
        """Why the incident did not show as the scenario says it does, or None when it did."""
        return judge.incident_not_shown(self)

    def restore_resolution_s(self) -> float | None:
        """The restore clock's resolution at restored_s: the restore took effect after the last
        Draft asked for after the fix (before the restoring one) that was not enriched, or after
        the fix itself; None before a restore."""
        restoring, fix = self._restoring_draft_s, self.fix_requested_s
        if self.restored_s is None or restoring is None or fix is None:
            return None
        since = max((s for s in self._unenriched_after_fix if s < restoring), default=fix)
        return round(self.restored_s - since, 4)

    def measures(self) -> Measures:
        """Time to detect, to each step, to restore against the budget; Draft availability."""
        return judge.measure(self)

    def verdict(self) -> tuple[Verdict, str]:
        """Passed only with every step verified, the restore within budget and every Draft answered."""
        return judge.verdict(self)

    # Record form -------------------------------------------------------------------------------

    def step_results(self) -> list[StepResult]:
        """The checklist in record form."""
        return [
            StepResult(
                number=s.number,
                step=s.kind.value,
                title=s.title,
                state=s.state.value,
                requested_s=s.requested_s,
                performed_s=s.performed_s,
                verified_s=s.verified_s,
                attempts=s.attempts,
                detail=s.detail,
            )
            for s in self.steps
        ]

    def fault_results(self) -> list[InjectedFault]:
        """The incident's faults in record form."""
        return [
            InjectedFault(
                kind=f.kind,
                description=f.description,
                scheduled_s=f.scheduled_s,
                injected_s=f.injected_s,
                removed_s=f.removed_s,
                removed_by=f.removed_by,
            )
            for f in self.faults
        ]

    def event_results(self) -> list[RehearsalEvent]:
        """Every event in record form, in time order."""
        return [
            RehearsalEvent(
                at_s=e.at_s,
                utc=e.utc,
                kind=e.kind.value,
                actor=e.actor.value,
                text=e.text,
                step=e.step,
            )
            for e in sorted(self.events, key=lambda e: e.at_s)
        ]
