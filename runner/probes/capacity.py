"""The consumer's own capacity: Drafts/s and latency with MemoryKernel healthy, measured closed loop.

Drafts go back to back with 1, 2, 4, … in flight; the measurement stops after `FLAT_LEVELS`
levels in a row that add less than a sixth to the best throughput so far (the consumer is
saturated; one such level alone may be a moment the machine was busy elsewhere) or at
`max_in_flight`. The best level is the capacity: a probe paced well below it never queues.

One sampler (one client, its connections kept) runs every level: a level opens more slots at
once, and is timed from the moment every Draft in flight is one of its own, so the consumer is
never left idle waiting for the last level's Drafts to drain, nor a level charged with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.clock import Clock
from runner.percentile import percentile
from runner.probes.draft import Probe
from runner.probes.sampler import Sampler, TimedSample
from runner.record import CapacityLevel, ConsumerCapacity, LatencyStats, Phase

SATURATION_GAIN = 1.15  # a level must add this factor to the best throughput to go on
FLAT_LEVELS = 2  # levels in a row that add less than that end the measurement
UNBOUNDED_RATE_HZ = 10_000.0


@dataclass(frozen=True)
class CapacityPlan:
    """How long each level runs: at least `min_s` and `min_drafts` answers, `min_per_slot` per Draft
    in flight, at most `max_s`.

    A level is judged by how many Drafts it saw, not how long it ran: a consumer answering in a
    few milliseconds proves its throughput in a fraction of a second (each slot refilled at least
    twice, so start-up is not all a level measured), a slow one takes what its answers take.
    `min_s` only keeps a level from being decided inside one scheduler hiccup: on one client kept
    across levels there is no connection start-up left to average out, and at 0.15 s every level
    of the reference consumer on a quiet machine ran on the clock, with two to four times the
    Drafts it needed (0.6 s of the run before its first drill).
    """

    min_s: float = 0.05
    min_drafts: int = 8
    max_s: float = 4.0
    min_per_slot: int = 2
    # More at once would only queue: and a burst of new connections can jam a proxy that dials
    # one upstream at a time behind a small listen backlog (as Toxiproxy does).
    max_in_flight: int = 8


def measure_capacity(
    probe_factory: Callable[[], Probe], clock: Clock, plan: CapacityPlan = CapacityPlan()
) -> ConsumerCapacity:
    """Measure level by level; the caller makes sure MemoryKernel is healthy and nothing is injected."""
    levels: list[CapacityLevel] = []
    samples_at: dict[int, list[TimedSample]] = {}
    probe = probe_factory()
    sampler = Sampler(probe, clock, UNBOUNDED_RATE_HZ, slots=1)
    sampler.phase = Phase.STEADY
    try:
        in_flight = 1
        flat = 0
        while in_flight <= plan.max_in_flight:
            level, answered = _one_level(sampler, clock, plan, in_flight, first=not levels)
            levels.append(level)
            samples_at[in_flight] = answered
            best = max(levels[:-1], key=lambda lv: lv.drafts_per_s, default=None)
            gained = best is None or level.drafts_per_s >= best.drafts_per_s * SATURATION_GAIN
            flat = 0 if gained else flat + 1
            if flat >= FLAT_LEVELS:
                break
            in_flight *= 2
        sampler.stop(drain_s=plan.max_s)
    finally:
        probe.close()
    return summarize_capacity(levels, samples_at)


def summarize_capacity(
    levels: Sequence[CapacityLevel], samples_at: dict[int, list[TimedSample]]
) -> ConsumerCapacity:
    """The best level as the consumer's capacity."""
    best = max(levels, key=lambda lv: lv.drafts_per_s)
    latencies = [s.outcome.latency_ms for s in samples_at.get(best.in_flight, [])] or [0.0]
    return ConsumerCapacity(
        drafts_per_s=best.drafts_per_s,
        in_flight=best.in_flight,
        p50_ms=round(percentile(latencies, 0.50), 3),
        p95_ms=round(percentile(latencies, 0.95), 3),
        enriched=sum(lv.enriched for lv in levels),
        drafts=sum(lv.drafts for lv in levels),
        levels=list(levels),
    )


def _ended_s(sample: TimedSample) -> float:
    return sample.started + sample.outcome.latency_ms / 1000


def _one_level(
    sampler: Sampler, clock: Clock, plan: CapacityPlan, in_flight: int, first: bool
) -> tuple[CapacityLevel, list[TimedSample]]:
    opened = clock.now()
    sampler.set_pace(UNBOUNDED_RATE_HZ, in_flight)
    if first:
        sampler.start()
    # The level before's Drafts still hold slots while this level's start beside them.
    while any(started < opened for started in sampler.in_flight(Phase.STEADY)):
        if clock.now() - opened >= plan.max_s:
            break
        sampler.wait_for_sample(0.05)
    start = clock.now()
    enough = max(plan.min_drafts, plan.min_per_slot * in_flight)

    def own(until: float) -> list[TimedSample]:
        """This level's Drafts answered inside its timed span (up to `until`)."""
        return [
            s for s in sampler.samples() if s.started >= opened and start < _ended_s(s) <= until
        ]

    while True:
        now = clock.now()
        elapsed = now - start
        if elapsed >= plan.max_s or (elapsed >= plan.min_s and len(own(now)) >= enough):
            break
        sampler.wait_for_sample(0.05)
    end = clock.now()
    seconds = max(end - start, 1e-6)
    answered = [s for s in own(end) if s.outcome.ok]
    latencies = [s.outcome.latency_ms for s in answered]
    level = CapacityLevel(
        in_flight=in_flight,
        drafts=len(answered),
        seconds=round(seconds, 4),
        drafts_per_s=round(len(answered) / seconds, 3),
        enriched=sum(s.outcome.applied for s in answered),
        latency=LatencyStats(
            p50_ms=round(percentile(latencies, 0.50), 3),
            p95_ms=round(percentile(latencies, 0.95), 3),
            max_ms=round(max(latencies), 3),
        )
        if latencies
        else None,
    )
    return level, answered
