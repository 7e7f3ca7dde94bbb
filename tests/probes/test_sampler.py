"""Closed-loop pacing: never more Drafts in flight than slots, never faster than the rate, no queue."""

from __future__ import annotations

import threading
import time

from runner.clock import SystemClock
from runner.probes.draft import DraftOutcome
from runner.probes.sampler import Sampler
from runner.record import Phase


class SerialConsumer:
    """A consumer that answers one Draft at a time, each taking `cost_s`; counts what is in flight."""

    def __init__(self, cost_s: float) -> None:
        self.cost_s = cost_s
        self._serial = threading.Lock()
        self._count = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def draft(self) -> DraftOutcome:
        started = time.perf_counter()
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            with self._serial:
                time.sleep(self.cost_s)
        finally:
            with self._count:
                self.in_flight -= 1
        latency = (time.perf_counter() - started) * 1000
        return DraftOutcome(200, True, True, None, None, "ready", latency)

    def close(self) -> None:
        return None


def run_for(sampler: Sampler, seconds: float) -> None:
    sampler.start()
    time.sleep(seconds)
    sampler.stop(drain_s=2.0)


def test_a_slow_consumer_never_gets_more_drafts_than_slots_and_builds_no_queue() -> None:
    consumer = SerialConsumer(cost_s=0.02)  # answers 50 Drafts/s at most
    sampler = Sampler(consumer, SystemClock(), rate_hz=200.0, slots=2)
    run_for(sampler, 1.0)
    samples = sampler.samples()
    assert consumer.most_in_flight <= 2 and sampler.most_in_flight <= 2
    # closed loop: the probe drafts as fast as the consumer answers, not at the 200/s asked for
    assert 25 <= len(samples) <= 60
    # no queue: a Draft waits for at most the one ahead of it (open loop at 200/s would wait seconds)
    assert max(s.outcome.latency_ms for s in samples) < 150
    assert all(s.outcome.ok for s in samples)


def test_starts_never_exceed_the_rate() -> None:
    consumer = SerialConsumer(cost_s=0.0)
    sampler = Sampler(consumer, SystemClock(), rate_hz=40.0, slots=8)
    run_for(sampler, 1.0)
    starts = sorted(s.started for s in sampler.samples())
    assert len(starts) >= 30  # the rate is reached
    for first in range(len(starts)):
        window = [t for t in starts[first:] if t - starts[first] < 0.5]
        assert len(window) <= 40 * 0.5 + 2


def test_pace_changes_from_the_next_start_on() -> None:
    consumer = SerialConsumer(cost_s=0.0)
    sampler = Sampler(consumer, SystemClock(), rate_hz=10.0, slots=4)
    sampler.phase = Phase.STEADY
    sampler.start()
    time.sleep(0.5)
    sampler.set_pace(100.0, 4)
    sampler.phase = Phase.OBSERVE
    time.sleep(0.5)
    sampler.stop(drain_s=1.0)
    steady = [s for s in sampler.samples() if s.phase is Phase.STEADY]
    observe = [s for s in sampler.samples() if s.phase is Phase.OBSERVE]
    assert 3 <= len(steady) <= 8
    assert len(observe) >= 30


def test_a_draft_still_in_flight_at_stop_is_recorded_unanswered() -> None:
    consumer = SerialConsumer(cost_s=1.0)
    sampler = Sampler(consumer, SystemClock(), rate_hz=50.0, slots=3)
    sampler.phase = Phase.OBSERVE
    sampler.start()
    time.sleep(0.2)
    assert (
        len(sampler.in_flight(Phase.OBSERVE)) == 3
    )  # every slot waits for its answer; no more are started
    sampler.stop(drain_s=0.1)
    samples = sampler.samples()
    assert len(samples) == 3
    assert all(not s.outcome.ok and "no answer" in (s.outcome.error or "") for s in samples)


class StartsRecorded(SerialConsumer):
    """A SerialConsumer that notes when each Draft started."""

    def __init__(self, cost_s: float) -> None:
        super().__init__(cost_s)
        self.starts: list[float] = []

    def draft(self) -> DraftOutcome:
        self.starts.append(time.perf_counter())
        return super().draft()


def test_no_draft_starts_once_stop_is_called() -> None:
    # Every slot taken (no rate limit): the sampler waits for a slot when stop() comes; the
    # Draft that frees it must not be followed by one more, which the drain would then wait for.
    consumer = StartsRecorded(cost_s=0.03)
    sampler = Sampler(consumer, SystemClock(), rate_hz=10_000.0, slots=1)
    sampler.phase = Phase.STEADY
    sampler.start()
    while len(consumer.starts) < 3:
        sampler.wait_for_sample(0.05)
    stopped = time.perf_counter()
    sampler.stop(drain_s=2.0)
    assert consumer.starts and all(start < stopped for start in consumer.starts)
    assert len(sampler.samples()) == len(consumer.starts)
