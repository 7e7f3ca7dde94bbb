"""Benchmark statistics: a figure is the median of repeated measurements with its min, max and count."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from runner.percentile import percentile

__all__ = ["percentile"]


@dataclass(frozen=True)
class Figure:
    """One measured quantity over `n` repetitions, in `unit`."""

    median: float
    min: float
    max: float
    n: int
    unit: str
    values: tuple[float, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The bench.json form (rounded; raw values kept so the spread can be re-read)."""
        return {
            "median": _round(self.median),
            "min": _round(self.min),
            "max": _round(self.max),
            "n": self.n,
            "unit": self.unit,
            "values": [_round(v) for v in self.values],
        }


def _round(value: float) -> float:
    return round(value, 6) if math.isfinite(value) else value


def figure(values: Sequence[float], unit: str) -> Figure:
    """Median, min and max of `values`; ValueError when there are none (a bench that measured nothing)."""
    if not values:
        raise ValueError(f"no measurements for a figure in {unit}")
    ordered = sorted(values)
    return Figure(
        median=statistics.median(ordered),
        min=ordered[0],
        max=ordered[-1],
        n=len(ordered),
        unit=unit,
        values=tuple(values),
    )


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Ratio of each pair measured back to back (A_i / B_i), so both sides saw the same machine load."""
    if len(numerators) != len(denominators):
        raise ValueError(
            f"paired ratios need as many numerators as denominators "
            f"({len(numerators)} vs {len(denominators)})"
        )
    return [a / b if b > 0 else math.inf for a, b in zip(numerators, denominators, strict=True)]


def distribution_ms(errors_s: Sequence[float]) -> dict[str, float]:
    """min, p50, p95, max of errors given in seconds, in milliseconds."""
    values = [e * 1000.0 for e in errors_s]
    return {
        "min_ms": round(min(values), 3),
        "p50_ms": round(percentile(values, 0.50), 3),
        "p95_ms": round(percentile(values, 0.95), 3),
        "max_ms": round(max(values), 3),
        "max_abs_ms": round(max(abs(v) for v in values), 3),
    }
