"""Synthetic rehearsal parts: scenarios from text, Draft samples at chosen times, a state on a fake clock."""

from __future__ import annotations

from pathlib import Path

from runner.clock import FakeClock
from runner.loader import parse_mapping_text, validate_mapping
from runner.probes.draft import DraftOutcome
from runner.probes.sampler import TimedSample
from runner.record import Phase
from runner.rehearsal.incident import fault_progress
from runner.rehearsal.scenario import Scenario
from runner.rehearsal.state import RehearsalState

REPO = Path(__file__).resolve().parents[2]
ORIGIN = 1000.0

SCENARIO_TEXT = """\
name: fake-offline
description: MemoryKernel stopped.
incident:
  - {at_s: 0, fault: {kind: stop}}
expect: {fallback_reasons: [offline]}
budget_s: 10
checklist:
  - {step: freeze, title: Freeze baseline upgrades}
  - {step: remove_faults, title: Bring MemoryKernel back}
  - {step: summary, title: Publish the incident summary}
prevention: [Supervise MemoryKernel]
auto: {observe_s: 0.5}
"""


def scenario(text: str = SCENARIO_TEXT, path: str = "fake.yaml") -> Scenario:
    return validate_mapping(parse_mapping_text(text, path, "scenario file"), path, Scenario)


def new_state(
    text: str = SCENARIO_TEXT, known: tuple[str, ...] = ()
) -> tuple[RehearsalState, FakeClock]:
    clock = FakeClock(ORIGIN)
    loaded = scenario(text)
    state = RehearsalState(
        loaded, clock.now(), clock.utc_iso, fault_progress(loaded.incident), known
    )
    state.start_incident(clock.now())
    return state, clock


def enriched(at: float, latency_ms: float = 10.0) -> TimedSample:
    """An enriched Draft started `at` seconds after the incident started."""
    return TimedSample(
        ORIGIN + at, Phase.OBSERVE, DraftOutcome(200, True, True, None, None, "ready", latency_ms)
    )


def fallback(
    at: float, reason: str = "offline", code: str | None = None, latency_ms: float = 10.0
) -> TimedSample:
    """A Draft answered with AssistSupport's fallback."""
    return TimedSample(
        ORIGIN + at,
        Phase.OBSERVE,
        DraftOutcome(200, True, False, reason, code, "offline", latency_ms),
    )


def unanswered(at: float) -> TimedSample:
    """A Draft the consumer never answered."""
    return TimedSample(
        ORIGIN + at,
        Phase.OBSERVE,
        DraftOutcome(None, False, False, None, None, None, 1000.0, "timeout"),
    )
