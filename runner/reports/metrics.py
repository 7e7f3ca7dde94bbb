"""Figures derived from a drill record: fault-window samples, availability, p95 latency."""

from __future__ import annotations

from collections.abc import Sequence

from runner.percentile import percentile as nearest_rank
from runner.record import DrillResult, Phase, PhaseSummary, Sample
from runner.reports.palette import ENRICHED, NOT_ANSWERED

# Phases during which the fault is on.
FAULT_PHASES = frozenset({Phase.INJECT, Phase.OBSERVE})


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (`fraction` in 0..1) of `values`, None when there are none."""
    return nearest_rank(values, fraction) if values else None


def fault_samples(drill: DrillResult) -> list[Sample]:
    """Drafts started while the fault was on (the observe phase): the set every p95 and
    availability figure of the fault is computed on, in the terminal and in every report."""
    return [s for s in drill.samples if s.phase is Phase.OBSERVE]


def _fault_phase_summary(drill: DrillResult) -> PhaseSummary | None:
    for summary in drill.probe:
        if summary.phase == Phase.OBSERVE:
            return summary
    return None


def fault_p95_latency_ms(drill: DrillResult) -> float | None:
    """p95 Draft latency while the fault was on (the observe summary's if no samples were kept)."""
    samples = fault_samples(drill)
    if samples:
        return percentile([s.latency_ms for s in samples], 0.95)
    summary = _fault_phase_summary(drill)
    if summary is not None and summary.latency is not None:
        return summary.latency.p95_ms
    return None


def fault_availability(drill: DrillResult) -> tuple[int, int] | None:
    """(answered, samples) while the fault was on, None when nothing was sampled."""
    samples = fault_samples(drill)
    if samples:
        return sum(1 for s in samples if s.ok), len(samples)
    summary = _fault_phase_summary(drill)
    if summary is not None and summary.samples:
        return summary.answered, summary.samples
    return None


def sample_status(sample: Sample) -> str:
    """What a sample shows: `enriched`, `not answered`, or the fallback reason."""
    if not sample.ok:
        return NOT_ANSWERED
    if sample.applied:
        return ENRICHED
    return sample.fallback_reason or "fallback"
