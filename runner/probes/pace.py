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


@dataclass(frozen=True)
class Pace:
    """Drafts per second and the most Drafts in flight at once."""

    rate_hz: float
    slots: int

    def describe(self) -> str:
        """`25/s, 64 slots`."""
        return f"{self.rate_hz:.3g}/s, {self.slots} slots"


def capped_rate(target_hz: float, capacity: ConsumerCapacity | None) -> float:
    """`target_hz`, or less when the consumer cannot answer that many with room to spare."""
    if capacity is None or capacity.drafts_per_s <= 0:
        return target_hz
    return min(target_hz, round(capacity.drafts_per_s * CAPACITY_SHARE, 3))


def pace_for(target_hz: float, capacity: ConsumerCapacity | None, bound_ms: float) -> Pace:
    """The pace of one phase: capped rate, and slots for Drafts as slow as the bound."""
    rate = capped_rate(target_hz, capacity)
    slots = min(MAX_SLOTS, math.ceil(rate * bound_ms / 1000) + 1)
    return Pace(rate_hz=rate, slots=max(1, slots))


def window_drafts(rate_hz: float, window_s: float) -> int:
    """Drafts a fault window can be counted on to start at `rate_hz`."""
    return math.floor(rate_hz * window_s * EXPECTED_SHARE)
