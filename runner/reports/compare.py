"""What regressed between two runs: verdicts, time to restore, fault-window latency, lost drills."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.record import DrillResult, RunRecord, Verdict
from runner.reports.metrics import fault_p95_latency_ms

# A rise counts only past both a relative and an absolute margin, so jitter on tiny figures and
# small shifts on large ones are not reported.
RESTORE_RISE_FRACTION = 0.20
RESTORE_RISE_MIN_S = 0.100
LATENCY_RISE_FRACTION = 0.25
LATENCY_RISE_MIN_MS = 50.0
_BAD = frozenset({Verdict.FAILED, Verdict.ERROR})


@dataclass(frozen=True)
class DrillComparison:
    """One drill in both runs (either side may be missing) and what got worse."""

    drill: str
    before: DrillResult | None
    after: DrillResult | None
    regressions: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        """Something got worse."""
        return bool(self.regressions)


def rise_exceeds(before: float, after: float, fraction: float, minimum: float) -> bool:
    """`after` is above `before` by more than max(fraction * before, minimum)."""
    return after - before > max(fraction * before, minimum)


def _percent(before: float, after: float) -> str:
    return f"{100.0 * (after - before) / before:+.0f}%" if before > 0 else "new"


def _regressions(
    before: DrillResult, after: DrillResult, fault_p95: tuple[float | None, float | None]
) -> list[str]:
    found: list[str] = []
    if before.verdict == Verdict.PASSED and after.verdict in _BAD:
        found.append(f"verdict {before.verdict.value} → {after.verdict.value}")
    ttr_a, ttr_b = before.time_to_restore_s, after.time_to_restore_s
    if ttr_a is not None and ttr_b is not None:
        if rise_exceeds(ttr_a, ttr_b, RESTORE_RISE_FRACTION, RESTORE_RISE_MIN_S):
            found.append(
                f"time to restore {ttr_a:.2f} s → {ttr_b:.2f} s ({_percent(ttr_a, ttr_b)})"
            )
    elif ttr_a is not None and after.time_to_restore is not None:
        found.append(f"time to restore {ttr_a:.2f} s → never")
    p95_a, p95_b = fault_p95
    if (
        p95_a is not None
        and p95_b is not None
        and rise_exceeds(p95_a, p95_b, LATENCY_RISE_FRACTION, LATENCY_RISE_MIN_MS)
    ):
        found.append(
            f"fault p95 latency {p95_a:.0f} ms → {p95_b:.0f} ms ({_percent(p95_a, p95_b)})"
        )
    return found


def compare_runs(before: RunRecord, after: RunRecord) -> list[DrillComparison]:
    """Every drill of either run, in `before`'s order then new ones, with its regressions."""
    after_by_name = {d.name: d for d in after.drills}
    before_names = {d.name for d in before.drills}
    out: list[DrillComparison] = []
    for drill in before.drills:
        other = after_by_name.get(drill.name)
        if other is None:
            out.append(DrillComparison(drill.name, drill, None, ["drill disappeared"]))
            continue
        p95 = (fault_p95_latency_ms(drill), fault_p95_latency_ms(other))
        out.append(DrillComparison(drill.name, drill, other, _regressions(drill, other, p95)))
    out += [DrillComparison(d.name, None, d) for d in after.drills if d.name not in before_names]
    return out
