"""A pin's state from the evidence: its latest complete gating suite run decides (pure functions).

    green     the latest complete gating run on it passed
    red       the latest complete gating run on it failed
    seeded    no complete gating run yet; the first run seeded it as the baseline
    untested  no complete gating run yet

A run is gating when it ran a whole gating suite (nightly or quarterly) to the end: runs of named
drills, runs stopped by --fail-fast, interrupted runs and runs the environment broke never change a
pin's state. Greens are kept per pin and per MemoryKernel identity (what served the pin's release).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from runner.record import RunRecord, Verdict

GATING_SUITES = ("nightly", "quarterly")
REFERENCE_IDENTITY = "reference"


class PinState(StrEnum):
    """What the evidence says of a pin."""

    GREEN = "green"
    RED = "red"
    SEEDED = "seeded"
    UNTESTED = "untested"


@dataclass(frozen=True)
class RunRef:
    """A recorded run, as the ledger judges it."""

    run_id: str
    started_at: str
    suite: str | None
    verdict: Verdict
    gating: bool
    partial_reason: str | None
    memorykernel: str

    def as_json(self) -> dict[str, object]:
        """The run for `mkdrill pins --json`."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "suite": self.suite,
            "verdict": self.verdict.value,
            "complete": self.gating,
            "partial_reason": self.partial_reason,
            "memorykernel": self.memorykernel,
        }


def memorykernel_identity(record: RunRecord) -> str:
    """The identity of the MemoryKernel that served the pin's release, `reference` if unnamed."""
    served = record.memorykernel.get(record.pin.release_tag)
    return served.key if served is not None else REFERENCE_IDENTITY


def partial_reason(record: RunRecord) -> str | None:
    """Why a run does not decide its pin's state; None when it is a complete gating suite run."""
    if record.suite not in GATING_SUITES:
        return f"suite {record.suite or '(drills named)'} does not gate a pin (gating: nightly, quarterly)"
    if record.partial:
        return record.partial
    if record.finished_at is None or record.verdict in (Verdict.INTERRUPTED, Verdict.ERROR):
        return f"the run did not finish ({record.verdict.value})"
    if record.verdict not in (Verdict.PASSED, Verdict.FAILED):
        return f"verdict {record.verdict.value}"
    return None


def latest_gating(runs: Sequence[RunRef], memorykernel: str | None = None) -> RunRef | None:
    """The newest complete gating run (of one MemoryKernel identity, if given); runs newest first."""
    for run in runs:
        if run.gating and (memorykernel is None or run.memorykernel == memorykernel):
            return run
    return None


def state_of(runs: Sequence[RunRef], seeded: bool, memorykernel: str | None = None) -> PinState:
    """A pin's state from its runs (newest first)."""
    decisive = latest_gating(runs, memorykernel)
    if decisive is None:
        return PinState.SEEDED if seeded else PinState.UNTESTED
    return PinState.GREEN if decisive.verdict is Verdict.PASSED else PinState.RED
