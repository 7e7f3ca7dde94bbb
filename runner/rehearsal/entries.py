"""The pieces of a rehearsal's state: who did what (events), the checklist steps, the Draft flow per second."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from runner.rehearsal.scenario import StepKind


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
