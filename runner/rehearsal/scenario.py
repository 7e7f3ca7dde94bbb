"""Rehearsal scenarios: frozen models of the files in `rehearsals/`, an incident and its checklist.

name: bad-deploy-cross-contract-rollback
description: A bad v0.4.x build answers every ask with a typed 500 ...
incident:                               # at once (same at_s) or one after another
  - {at_s: 0, fault: {kind: responder, mode: "typed:internal_error@/v1/query/ask"}}
expect: {fallback_reasons: [non-2xx], machine_error_codes: [internal_error]}
budget_s: 120                           # incident start → first enriched Draft after the fix
checklist:
  - {step: freeze, title: Freeze baseline upgrades}
  - {step: revert_trio, title: Revert to the last approved pin/matrix/manifest trio}
  - {step: contract, title: Re-run contract and CI verification}
  - {step: summary, title: Publish the incident summary with root cause and prevention action}
prevention: [Gate every v0.4.x promotion on the quarterly rollback drill]
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from runner.contract import TIMEOUT_MS_MAX, TIMEOUT_MS_MIN, FallbackReason
from runner.limits import MIN_RATE_HZ
from runner.relative import parse_relative
from runner.spec import Fault, describe_fault

MAX_AT_S = 300.0
MAX_BUDGET_S = 3600.0
RELATIVE_FAULT_FIELDS = ("latency_ms", "timeout_ms")
_FAULT = TypeAdapter[Fault](Fault)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class StepKind(StrEnum):
    """What a checklist step is, and so how mkdrill performs and verifies it."""

    FREEZE = "freeze"  # record the deployed trio; verified: nothing but a rollback changed it
    REMOVE_FAULTS = "remove_faults"  # the fix: undo every injected fault
    REVERT_TRIO = "revert_trio"  # the fix: the last green trio back, SHA-256 checked
    CONTRACT = "contract"  # re-run contract and CI verification, recorded
    SUMMARY = "summary"  # publish the incident summary: root cause, diagnosis, prevention


FIX_STEPS = frozenset({StepKind.REMOVE_FAULTS, StepKind.REVERT_TRIO})


class ScheduledFault(_Spec):
    """One fault of the incident: when it starts, and for how long (default: until the fix)."""

    at_s: Annotated[float, Field(ge=0, le=MAX_AT_S)] = 0.0
    for_s: Annotated[float, Field(gt=0, le=MAX_AT_S)] | None = None
    fault: Fault

    @model_validator(mode="after")
    def _something_breaks(self) -> ScheduledFault:
        if self.fault.kind == "none":
            raise ValueError("fault.kind: 'none' injects nothing; an incident needs a fault")
        return self


class ChecklistStep(_Spec):
    """One step of the incident rollback checklist."""

    step: StepKind
    title: Annotated[str, Field(min_length=1, max_length=120)]


class IncidentSignals(_Spec):
    """What the Draft flow shows during the incident (the --auto operator waits for it)."""

    fallback_reasons: Annotated[list[FallbackReason], Field(min_length=1)]
    machine_error_codes: list[str] | None = None


class AutoSettings(_Spec):
    """How the unattended operator (--auto) behaves."""

    observe_s: Annotated[float, Field(ge=0, le=60)] = 1.0  # watched before it diagnoses


class Scenario(_Spec):
    """An incident to rehearse: faults on a schedule, a budget, and the checklist to work through."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    description: Annotated[str, Field(min_length=1, max_length=500)]
    incident: Annotated[list[ScheduledFault], Field(min_length=1, max_length=8)]
    expect: IncidentSignals
    budget_s: Annotated[float, Field(gt=0, le=MAX_BUDGET_S)]
    surge_rate_hz: Annotated[float, Field(ge=MIN_RATE_HZ, le=200)] | None = None
    idle_limit_s: Annotated[float, Field(ge=5, le=3600)] = 300.0
    checklist: Annotated[list[ChecklistStep], Field(min_length=1, max_length=12)]
    prevention: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=1)
    ]
    auto: AutoSettings = AutoSettings()

    @model_validator(mode="after")
    def _checklist_can_be_worked(self) -> Scenario:
        kinds = [s.step for s in self.checklist]
        if len(set(kinds)) != len(kinds):
            twice = next(k for k in kinds if kinds.count(k) > 1)
            raise ValueError(f"checklist: step {twice.value!r} is listed twice")
        fixes = [k for k in kinds if k in FIX_STEPS]
        if len(fixes) != 1:
            raise ValueError(
                "checklist: list exactly one fix step (remove_faults or revert_trio); "
                f"found {len(fixes)}"
            )
        fix_at = kinds.index(fixes[0])
        if StepKind.CONTRACT in kinds and kinds.index(StepKind.CONTRACT) < fix_at:
            raise ValueError("checklist: the contract re-run comes after the fix step")
        if StepKind.SUMMARY in kinds and kinds[-1] is not StepKind.SUMMARY:
            raise ValueError("checklist: the summary step comes last")
        for index, scheduled in enumerate(self.incident):
            for timeout_ms in (TIMEOUT_MS_MIN, TIMEOUT_MS_MAX):
                _check_resolves(scheduled.fault, timeout_ms, f"incident[{index}].fault")
        return self

    @property
    def fix_step(self) -> StepKind:
        """The checklist's fix: remove the faults, or revert the trio."""
        return next(s.step for s in self.checklist if s.step in FIX_STEPS)

    @property
    def last_injection_s(self) -> float:
        """When the schedule's last fault goes in, seconds after the incident starts."""
        return max(s.at_s for s in self.incident)


def resolve_fault(fault: Fault, timeout_ms: int) -> Fault:
    """The fault with its timeout-relative fields (`timeout + 300ms`) as numbers for `timeout_ms`."""
    data: dict[str, Any] = fault.model_dump(mode="python")
    changed = False
    for name in RELATIVE_FAULT_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            data[name] = round(parse_relative(value).ms(timeout_ms))
            changed = True
    return _FAULT.validate_python(data) if changed else fault


def resolve_scenario(scenario: Scenario, timeout_ms: int) -> Scenario:
    """The scenario with every fault resolved for a consumer of `timeout_ms`."""
    incident = [
        s.model_copy(update={"fault": resolve_fault(s.fault, timeout_ms)})
        for s in scenario.incident
    ]
    return scenario.model_copy(update={"incident": incident})


def describe_incident(scenario: Scenario) -> str:
    """One line naming every fault and when it starts: the root cause, as injected."""
    return "; ".join(
        f"{describe_fault(s.fault)} at +{s.at_s:g}s"
        + (f" for {s.for_s:g}s" if s.for_s is not None else "")
        for s in scenario.incident
    )


def _check_resolves(fault: Fault, timeout_ms: int, where: str) -> None:
    try:
        resolve_fault(fault, timeout_ms)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = next((str(p) for p in reversed(error["loc"]) if isinstance(p, str)), "")
        written = getattr(fault, field, "")
        message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        raise ValueError(
            f"{where}.{field}: {written} is {error.get('input')!r} ms at a {timeout_ms} ms "
            f"consumer timeout; {message.split(' (got ')[0]}"
        ) from None
