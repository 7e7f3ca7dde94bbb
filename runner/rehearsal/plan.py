"""A rehearsal decided before it starts: scenario, pins and trio, folders, consumer timeout, rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runner.drill_run import CALLS_PER_DRAFT, LATENCY_MARGIN_MS
from runner.pins import Pin
from runner.rehearsal.scenario import Scenario
from runner.trio import PinTrio, RollbackTarget


@dataclass(frozen=True)
class RehearsalPlan:
    """Everything decided before the rehearsal starts."""

    rehearsal_id: str
    scenario: Scenario  # its faults resolved for the consumer timeout
    scenario_file: Path
    mode: str  # interactive or auto
    blind: bool
    backend: str
    consumer_pin: Pin
    consumer_trio: PinTrio
    target: RollbackTarget | None
    out_dir: Path
    timeout_ms: int
    timeout_from_pin: bool
    rate_hz: float
    idle_limit_s: float
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def latency_bound_ms(self) -> float:
        """A Draft's bound: three calls (health, schema, ask) × the consumer timeout, plus margin."""
        return CALLS_PER_DRAFT * self.timeout_ms + LATENCY_MARGIN_MS
