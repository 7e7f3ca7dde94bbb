"""The rehearsal as data: events, the checklist, the Draft flow second by second, what is measured.

Pure: nothing here reads a clock, touches the environment or draws. The session hands in every
time (monotonic seconds) and every Draft sample, so the logic is tested on a fake clock. Times
kept are seconds since the incident started.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from runner.probes.sampler import TimedSample
from runner.record import Verdict
from runner.rehearsal.health import HealthReading
from runner.rehearsal.record import (
    ContractRun,
    InjectedFault,
    Measures,
    OperatorEntry,
    RehearsalEvent,
    StepResult,
)
from runner.rehearsal.scenario import FIX_STEPS, Scenario, StepKind


class Actor(StrEnum):
    """Who did something: the person (or the --auto operator), or mkdrill itself."""

    OPERATOR = "operator"
    MKDRILL = "mkdrill"


class EventKind(StrEnum):
    """What an event records."""

    INCIDENT_STARTED = "incident_started"
    FAULT_INJECTED = "fault_injected"
    FAULT_REMOVED = "fault_removed"
    FIRST_FALLBACK = "first_fallback"
    DIAGNOSIS = "diagnosis"
    NOTE = "note"
    PREVENTION = "prevention"
    STEP_REQUESTED = "step_requested"
    STEP_PERFORMED = "step_performed"
    STEP_VERIFIED = "step_verified"
    STEP_FAILED = "step_failed"
    CONTRACT_RUN = "contract_run"
    RESTORED = "restored"
    ENDED = "ended"


OPERATOR_EVENTS = frozenset(
    {
        EventKind.DIAGNOSIS,
        EventKind.NOTE,
        EventKind.PREVENTION,
        EventKind.STEP_REQUESTED,
    }
)


class StepState(StrEnum):
    """Where a checklist step stands."""

    PENDING = "pending"
    PERFORMING = "performing"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    FAILED = "failed"


@dataclass(frozen=True)
class Event:
    """One timestamped event; `reveals_fault` ones are hidden on a --blind screen until the end."""

    at_s: float
    utc: str
    kind: EventKind
    actor: Actor
    text: str
    step: int | None = None
    reveals_fault: bool = False


@dataclass
class StepProgress:
    """One checklist step as the rehearsal goes."""

    number: int
    kind: StepKind
    title: str
    state: StepState = StepState.PENDING
    requested_s: float | None = None
    performed_s: float | None = None
    verified_s: float | None = None
    attempts: int = 0
    detail: str = ""


@dataclass
class Second:
    """The Draft flow during one second of the incident (Drafts answered in it)."""

    second: int
    drafts: int = 0
    answered: int = 0
    enriched: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)


@dataclass
class FaultProgress:
    """One scheduled fault: when it went in and came out."""

    kind: str
    description: str
    scheduled_s: float
    injected_s: float | None = None
    removed_s: float | None = None
    removed_by: str | None = None


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
                    self._set_once(
                        EventKind.RESTORED, self.restored_s, "first enriched Draft after the fix"
                    )
                continue
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
        expect = self.scenario.expect
        wanted = [r.value for r in expect.fallback_reasons]
        if not any(self.fallback_reasons.get(r) for r in wanted):
            seen = ", ".join(f"{k}×{v}" for k, v in sorted(self.fallback_reasons.items())) or "none"
            return f"the incident never showed its fallback ({', '.join(wanted)}; seen: {seen}): the fault did not take effect"
        codes = expect.machine_error_codes
        if codes and not any(self.machine_error_codes.get(c) for c in codes):
            return f"no Draft carried machine_error_code {', '.join(codes)}"
        return None

    def measures(self) -> Measures:
        """Time to detect, to each step, to restore against the budget; Draft availability."""
        diagnosis = self.diagnoses[0].at_s if self.diagnoses else None
        detect = (
            round(max(diagnosis - self.first_fallback_s, 0.0), 4)
            if diagnosis is not None and self.first_fallback_s is not None
            else None
        )
        restored = self.restored_s
        budget = self.scenario.budget_s
        fix = self.fix_requested_s
        return Measures(
            first_fallback_s=self.first_fallback_s,
            diagnosis_s=diagnosis,
            time_to_detect_s=detect,
            fix_requested_s=fix,
            restored_s=restored,
            time_to_restore_s=restored,
            restore_after_fix_s=round(restored - fix, 4)
            if restored is not None and fix is not None
            else None,
            budget_s=budget,
            budget_met=None if restored is None else restored <= budget,
            drafts=self.drafts,
            answered=self.answered,
            enriched=self.enriched,
            availability=self.answered / self.drafts if self.drafts else 1.0,
            fallback_reasons=dict(sorted(self.fallback_reasons.items())),
            machine_error_codes=dict(sorted(self.machine_error_codes.items())),
            unannounced_error_codes=sorted(
                c
                for c in self.machine_error_codes
                if self.known_error_codes and c not in self.known_error_codes
            ),
            step_verified_s={str(s.number): s.verified_s for s in self.steps},
        )

    def verdict(self) -> tuple[Verdict, str]:
        """Passed only with every step verified, the restore within budget and every Draft answered."""
        if self.interrupted_by is not None:
            return Verdict.INTERRUPTED, self.end_reason
        problems = [self.abandoned] if self.abandoned else []
        for step in self.steps:
            if step.state is not StepState.VERIFIED:
                found = f": {step.detail}" if step.detail else ""
                problems.append(f"step {step.number} ({step.kind.value}) {step.state.value}{found}")
        measures = self.measures()
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
        missing = self.expected_signal_seen()
        if missing:
            problems.append(missing)
        if problems:
            return Verdict.FAILED, "; ".join(dict.fromkeys(problems))
        return (
            Verdict.PASSED,
            f"checklist done; restored in {measures.restored_s:.1f} s of the "
            f"{measures.budget_s:g} s budget; every Draft answered",
        )

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
