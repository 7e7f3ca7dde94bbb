"""The consumer's own capacity: measured closed loop, level by level, until it saturates."""

from __future__ import annotations

import threading
import time

import pytest

from runner.clock import SystemClock
from runner.drill_run import DrillSettings
from runner.probes.capacity import CapacityPlan, measure_capacity
from runner.probes.draft import DraftOutcome
from runner.probes.pace import (
    CAPACITY_SHARE,
    RESTORE_SHARE,
    pace_for,
    watch_timeout_s,
    window_drafts,
)
from runner.record import ConsumerCapacity, Phase

QUICK = CapacityPlan(min_s=0.4, min_drafts=8, max_s=2.0, max_in_flight=16)


class CoresConsumer:
    """Answers `cores` Drafts at once, each taking `cost_s`: capacity = cores / cost_s."""

    def __init__(self, cores: int, cost_s: float) -> None:
        self._cores = threading.Semaphore(cores)
        self.cost_s = cost_s

    def draft(self) -> DraftOutcome:
        started = time.perf_counter()
        with self._cores:
            time.sleep(self.cost_s)
        return DraftOutcome(
            200, True, True, None, None, "ready", (time.perf_counter() - started) * 1000
        )

    def close(self) -> None:
        return None


def test_a_two_core_consumer_saturates_at_two_in_flight() -> None:
    consumer = CoresConsumer(cores=2, cost_s=0.05)  # 40 Drafts/s at most
    capacity = measure_capacity(lambda: consumer, SystemClock(), QUICK)
    levels = [level.in_flight for level in capacity.levels]
    assert levels == [1, 2, 4, 8]  # stops once two levels in a row add nothing
    # A level counts whole Drafts over at least min_s: one Draft more is 1/min_s Drafts/s more.
    assert 28 <= capacity.drafts_per_s <= 40 + 1 / QUICK.min_s
    assert capacity.in_flight >= 2
    assert capacity.enriched == capacity.drafts > 0
    assert capacity.p50_ms >= 45
    assert "Drafts/s" in capacity.describe()


def test_pace_takes_a_share_of_capacity_and_slots_for_the_bound() -> None:
    capacity = ConsumerCapacity(
        drafts_per_s=12.0, in_flight=2, p50_ms=160, p95_ms=190, enriched=30, drafts=30, levels=[]
    )
    pace = pace_for(25.0, capacity, bound_ms=7750)
    assert pace.rate_hz == pytest.approx(12.0 * CAPACITY_SHARE)
    assert pace.slots == 67  # Drafts as slow as the bound still keep the rate
    fast = pace_for(25.0, capacity.model_copy(update={"drafts_per_s": 400.0}), bound_ms=1750)
    assert fast.rate_hz == 25.0 and fast.slots == 45
    assert window_drafts(7.2, 6.0) == 38


def test_a_slow_consumer_keeps_room_for_the_restore_watcher() -> None:
    slow = ConsumerCapacity(
        drafts_per_s=6.0, in_flight=1, p50_ms=150, p95_ms=400, enriched=9, drafts=9, levels=[]
    )
    settings = DrillSettings(rate_hz=25.0, capacity=slow)
    observe = settings.pace(Phase.OBSERVE, 1750).rate_hz
    assert settings.pace(Phase.RECOVER, 1750).rate_hz == pytest.approx(observe * RESTORE_SHARE)
    assert watch_timeout_s(slow) == pytest.approx(1.6)
    fast = slow.model_copy(update={"drafts_per_s": 200.0, "p95_ms": 40.0})
    settings = DrillSettings(rate_hz=25.0, capacity=fast)
    assert settings.pace(Phase.RECOVER, 1750).rate_hz == 25.0  # the reference keeps its rate
    assert watch_timeout_s(fast) == watch_timeout_s(None) == 1.0


def test_with_memorykernel_healthy_the_slots_stop_at_what_the_consumer_answers() -> None:
    capacity = ConsumerCapacity(
        drafts_per_s=8.4, in_flight=4, p50_ms=380, p95_ms=630, enriched=9, drafts=9, levels=[]
    )
    steady = pace_for(100.0, capacity, bound_ms=7750, healthy=True)
    fault = pace_for(25.0, capacity, bound_ms=7750)
    assert steady.rate_hz == fault.rate_hz == pytest.approx(8.4 * CAPACITY_SHARE)
    assert steady.slots == 9  # rate × 2 × p95, + 1: a queue cannot build up
    assert fault.slots == 47  # a hang holds Drafts up to the bound: the rate still holds


class BusyOnceConsumer:
    """A two-core consumer whose machine is busy elsewhere while the 2-in-flight level runs."""

    def __init__(self) -> None:
        self._cores = threading.Semaphore(2)
        self._lock = threading.Lock()
        self.drafts = 0

    def draft(self) -> DraftOutcome:
        with self._lock:
            self.drafts += 1
            busy = 8 < self.drafts <= 16  # after the 8 Drafts of the first level
        started = time.perf_counter()
        with self._cores:
            time.sleep(0.2 if busy else 0.05)
        return DraftOutcome(
            200, True, True, None, None, "ready", (time.perf_counter() - started) * 1000
        )

    def close(self) -> None:
        return None


def test_one_level_slowed_by_a_busy_moment_does_not_end_the_measurement() -> None:
    consumer = BusyOnceConsumer()
    capacity = measure_capacity(lambda: consumer, SystemClock(), QUICK)
    assert [level.in_flight for level in capacity.levels][:3] == [1, 2, 4]
    assert capacity.levels[1].drafts_per_s < capacity.levels[0].drafts_per_s  # the busy level
    assert capacity.in_flight >= 4 and capacity.drafts_per_s >= 28


def test_each_level_counts_two_answers_per_draft_in_flight() -> None:
    """A level ends on the Drafts it saw: every slot refilled twice, however fast the answers."""
    consumer = CoresConsumer(cores=8, cost_s=0.002)
    capacity = measure_capacity(
        lambda: consumer, SystemClock(), CapacityPlan(min_s=0.0, max_in_flight=8)
    )
    assert [level.in_flight for level in capacity.levels][:1] == [1]
    for level in capacity.levels:
        assert level.drafts >= max(8, 2 * level.in_flight), level
    assert capacity.drafts == sum(level.drafts for level in capacity.levels)


class CountingFactory:
    """Hands out one consumer and counts how many probes (clients) were asked for."""

    def __init__(self, consumer: CoresConsumer) -> None:
        self.consumer = consumer
        self.made = 0

    def __call__(self) -> CoresConsumer:
        self.made += 1
        return self.consumer


def test_every_level_runs_on_one_client() -> None:
    # New connections per level were charged to that level, and the consumer idled between levels.
    factory = CountingFactory(CoresConsumer(cores=2, cost_s=0.01))
    capacity = measure_capacity(factory, SystemClock(), CapacityPlan(min_s=0.05, max_in_flight=8))
    assert len(capacity.levels) >= 3
    assert factory.made == 1


class StragglerConsumer:
    """Drafts enriched in 5 ms, but the first to start 0.1 s into the measurement (well inside the
    first level's 0.5 s) is a fallback held until a Draft of the next level runs beside it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: float | None = None
        self._held = False
        self._in_flight = 0
        self._beside = threading.Event()

    def draft(self) -> DraftOutcome:
        started = time.perf_counter()
        with self._lock:
            self._first = self._first if self._first is not None else started
            straggler = not self._held and started - self._first >= 0.1
            self._held = self._held or straggler
            self._in_flight += 1
            if self._in_flight > 1:
                self._beside.set()
        try:
            if straggler:
                self._beside.wait(2.0)
            time.sleep(0.005)
        finally:
            with self._lock:
                self._in_flight -= 1
        latency = (time.perf_counter() - started) * 1000
        return DraftOutcome(200, True, not straggler, None, None, "ready", latency)

    def close(self) -> None:
        return None


def test_a_level_does_not_count_the_drafts_of_the_level_before() -> None:
    consumer = StragglerConsumer()
    capacity = measure_capacity(
        lambda: consumer, SystemClock(), CapacityPlan(min_s=0.5, max_in_flight=2)
    )
    assert [level.in_flight for level in capacity.levels] == [1, 2]
    assert consumer._held  # the straggler ran, and was answered once level 2 had opened
    for level in capacity.levels:
        assert level.enriched == level.drafts, level  # the held fallback is in no level


def test_by_default_a_fast_consumers_levels_end_on_their_drafts_not_the_clock() -> None:
    # 5 ms a Draft, one at a time: the first level needs 8 answers, 40 ms; a floor of 0.15 s
    # (as before) ran it for about 30, and every level of the reference consumer likewise.
    consumer = CoresConsumer(cores=1, cost_s=0.005)
    capacity = measure_capacity(lambda: consumer, SystemClock())
    first = capacity.levels[0]
    assert first.in_flight == 1
    assert 8 <= first.drafts <= 16, first
