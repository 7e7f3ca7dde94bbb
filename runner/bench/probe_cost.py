"""Probe cost: Draft samples per second achieved and CPU the runner spends on them, at a fixed rate.

The sampler and its HttpDraftProbe run in this process against the healthy reference consumer
(another process), exactly as in a drill; CPU is this process's (every thread) from
time.process_time, and the consumer's from psutil, over the same fixed interval.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import psutil

from runner.bench.load import LoadSpan, measured_load
from runner.bench.services import SharedServices
from runner.clock import SystemClock
from runner.probes.draft import HttpDraftProbe
from runner.probes.sampler import Sampler

INTERVAL_S = 5.0
RATES_HZ = (20.0, 50.0)


@dataclass(frozen=True)
class ProbeCost:
    """One fixed-interval sampling run."""

    rate_hz: float
    interval_s: float
    samples: int
    enriched: int
    runner_cpu_s: float
    consumer_cpu_s: float | None
    load: LoadSpan | None = None  # the machine during the interval

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.interval_s

    @property
    def runner_cpu_per_sample_ms(self) -> float:
        return self.runner_cpu_s / self.samples * 1000 if self.samples else float("nan")


def _consumer_process(services: SharedServices) -> psutil.Process | None:
    for row in services.env.status():
        match = re.search(r"pid (\d+)", row.detail)
        if row.name == "assistsupport" and match:
            return psutil.Process(int(match.group(1)))
    return None


def _cpu(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    times = process.cpu_times()
    return float(times.user + times.system)


def measure_probe_cost(
    services: SharedServices, rate_hz: float, interval_s: float = INTERVAL_S
) -> ProbeCost:
    """Sample at `rate_hz` for `interval_s`; count the Drafts started in the interval and the CPU."""
    clock = SystemClock()
    consumer = _consumer_process(services)
    probe = HttpDraftProbe(f"{services.endpoints.consumer_url}/v1/draft", 2.0)
    sampler = Sampler(probe, clock, rate_hz)
    try:
        with measured_load() as load:
            consumer_before = _cpu(consumer)
            cpu_before = time.process_time()
            started = clock.now()
            sampler.start()
            time.sleep(interval_s)
            sampler.stop(drain_s=2.0)
            cpu_after = time.process_time()
            consumer_after = _cpu(consumer)
    finally:
        probe.close()
    samples = [s for s in sampler.samples() if s.started - started < interval_s]
    return ProbeCost(
        rate_hz=rate_hz,
        interval_s=interval_s,
        samples=len(samples),
        enriched=sum(1 for s in samples if s.outcome.ok and s.outcome.applied),
        runner_cpu_s=cpu_after - cpu_before,
        consumer_cpu_s=(
            consumer_after - consumer_before
            if consumer_after is not None and consumer_before is not None
            else None
        ),
        load=load[0],
    )
