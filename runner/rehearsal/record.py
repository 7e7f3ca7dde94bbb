"""The rehearsal record: what happened and when, the single input of rehearsal.json, summary.md and report.html.

Every `*_s` time is seconds since the incident started (the first fault went in); the steady
Drafts before it have negative times.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from runner.record import PinInfo, Sample, Verdict

REHEARSAL_SCHEMA_VERSION = "1.0"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RehearsalEvent(_Record):
    """One timestamped thing that happened: a fault, an operator entry, a step, the restore."""

    at_s: float
    utc: str
    kind: str
    actor: str = Field(description="operator (a person, or the --auto operator) or mkdrill")
    text: str
    step: int | None = Field(default=None, description="the checklist step it concerns")


class OperatorEntry(_Record):
    """A diagnosis, note or prevention action, with when and by whom it was entered."""

    at_s: float
    text: str
    actor: str


class ContractCheckResult(_Record):
    """One check of a contract and CI re-run."""

    name: str
    passed: bool
    observed: str


class ContractRun(_Record):
    """A contract and CI verification mkdrill ran on request, against what is deployed."""

    started_s: float
    duration_s: float
    passed: bool
    target: str = Field(description="the pin it checked: tag (contract)")
    checks: list[ContractCheckResult]


class StepResult(_Record):
    """One checklist step: when it was asked for, performed and verified, and how."""

    number: int
    step: str
    title: str
    state: str = Field(description="pending, performing, verifying, verified or failed")
    requested_s: float | None = None
    performed_s: float | None = None
    verified_s: float | None = None
    attempts: int = 0
    detail: str = Field(default="", description="what the last perform or verify found")


class InjectedFault(_Record):
    """One fault of the incident as it happened."""

    kind: str
    description: str
    scheduled_s: float
    injected_s: float | None
    removed_s: float | None
    removed_by: str | None = Field(default=None, description="schedule, fix or cleanup")


class RootCause(_Record):
    """The injected fault(s): the root cause the diagnosis is set beside."""

    description: str
    faults: list[InjectedFault]
    expected_fallback_reasons: list[str]
    expected_machine_error_codes: list[str] | None = None


class Measures(_Record):
    """What the rehearsal measured, in seconds since the incident started unless a duration."""

    first_fallback_s: float | None = Field(description="the first Draft that was not enriched")
    diagnosis_s: float | None
    time_to_detect_s: float | None = Field(description="first fallback seen → diagnosis entered")
    fix_requested_s: float | None
    restored_s: float | None = Field(description="the first enriched Draft after the fix")
    time_to_restore_s: float | None = Field(description="incident start → restored")
    restore_after_fix_s: float | None = Field(description="fix asked for → restored")
    restore_resolution_s: float | None = Field(
        default=None,
        description="the restore clock's resolution at restored_s: the restore took effect "
        "within this many seconds before it (a Draft asked for then was not enriched)",
    )
    budget_s: float
    budget_met: bool | None
    drafts: int = Field(description="Drafts started during the incident")
    answered: int
    enriched: int
    availability: float = Field(description="answered / drafts during the incident, 1.0 if none")
    fallback_reasons: dict[str, int]
    machine_error_codes: dict[str, int]
    unannounced_error_codes: list[str] = Field(
        description="machine_error_codes seen that the pin's manifest error_code_enum lacks"
    )
    step_verified_s: dict[str, float | None] = Field(description="step number → verified at")


class RehearsalRecord(_Record):
    """One `mkdrill rehearse`: the incident summary the checklist asks for, with its evidence."""

    schema_version: str = REHEARSAL_SCHEMA_VERSION
    kind: str = "rehearsal"
    rehearsal_id: str
    tool_version: str
    started_at: str
    finished_at: str | None
    host: dict[str, str]
    scenario: str
    scenario_description: str
    scenario_file: str
    mode: str = Field(description="interactive or auto")
    blind: bool
    backend: str
    toxiproxy: str
    pin: PinInfo
    rollback_target: str | None = Field(description="the last approved trio a revert restores")
    settings: dict[str, str]
    verdict: Verdict
    reason: str
    interrupted_by: str | None = Field(default=None, description="signal, idle limit or quit")
    root_cause: RootCause
    diagnoses: list[OperatorEntry]
    prevention_actions: list[OperatorEntry]
    notes: list[OperatorEntry]
    measures: Measures
    checklist: list[StepResult]
    contract_runs: list[ContractRun]
    events: list[RehearsalEvent]
    samples: list[Sample]
