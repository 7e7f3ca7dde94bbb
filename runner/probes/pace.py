"""How fast the probe drafts in each phase: the asked rate, capped by the consumer's own capacity.

The probe takes at most `CAPACITY_SHARE` of what the consumer answered with MemoryKernel healthy,
so it never queues Drafts at the consumer, and gets enough slots that Drafts as slow as the
latency bound still keep the rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from runner.probes.sampler import MAX_SLOTS
from runner.record import ConsumerCapacity

CAPACITY_SHARE = 0.7
MIN_WINDOW_DRAFTS = 10  # fewer Drafts in a fault window than this make no verdict
MIN_RATE_SHARE = 0.8  # a fault window must start this share of its paced Drafts
EXPECTED_SHARE = 0.9  # what a window is expected to start of its paced Drafts, planning ahead
HEALTHY_SLOW_FACTOR = 2.0  # × the healthy p95: a Draft this slow means the consumer falls behind
RESTORE_SHARE = 0.5  # of the probe's part while the restore watcher drafts back to back too
WATCH_TIMEOUT_S = 1.0  # the restore watcher's Draft timeout for a consumer answering fast


@dataclass(frozen=True)
class Pace:
    """Drafts per second and the most Drafts in flight at once."""

    rate_hz: float
    slots: int

    def describe(self) -> str:
        """`25/s, 64 slots`."""
        return f"{self.rate_hz:.3g}/s, {self.slots} slots"


def capped_rate(target_hz: float, capacity: ConsumerCapacity | None, share: float = 1.0) -> float:
    """`target_hz`, or less when the consumer cannot answer that many with room to spare.

    `share`: of the probe's part of the capacity (the restore watcher drafts too, meanwhile).
    """
    if capacity is None or capacity.drafts_per_s <= 0:
        return target_hz
    return min(target_hz, round(capacity.drafts_per_s * CAPACITY_SHARE * share, 3))


def pace_for(
    target_hz: float,
    capacity: ConsumerCapacity | None,
    bound_ms: float,
    share: float = 1.0,
    healthy: bool = False,
) -> Pace:
    """The pace of one phase: capped rate, and slots for Drafts as slow as they may get.

    A fault may hold Drafts up to the latency bound, so its phases get slots for that; with
    MemoryKernel healthy (`healthy`), a Draft slower than twice the measured p95 is the consumer
    falling behind, and more Drafts in flight would only queue: the slots stop at what it answers.
    """
    rate = capped_rate(target_hz, capacity, share)
    slow_ms = bound_ms
    if healthy and capacity is not None and capacity.p95_ms > 0:
        slow_ms = min(bound_ms, HEALTHY_SLOW_FACTOR * capacity.p95_ms)
    slots = math.ceil(rate * slow_ms / 1000) + 1
    if healthy and capacity is not None:
        slots = max(slots, capacity.in_flight)
    return Pace(rate_hz=rate, slots=max(1, min(MAX_SLOTS, slots)))


def window_drafts(rate_hz: float, window_s: float) -> int:
    """Drafts a fault window can be counted on to start at `rate_hz`."""
    return math.floor(rate_hz * window_s * EXPECTED_SHARE)


def watch_timeout_s(capacity: ConsumerCapacity | None) -> float:
    """The restore watcher's Draft timeout: short, but never shorter than a healthy slow Draft."""
    if capacity is None:
        return WATCH_TIMEOUT_S
    return max(WATCH_TIMEOUT_S, 4 * capacity.p95_ms / 1000)
