"""Drafts continuously at a fixed rate on worker threads, so a slow Draft never lowers the sample rate."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from runner.clock import Clock
from runner.probes.draft import DraftOutcome, Probe
from runner.record import Phase

MAX_IN_FLIGHT = 96


@dataclass(frozen=True)
class TimedSample:
    """A Draft outcome with the monotonic time its request started and the phase it started in."""

    started: float
    phase: Phase
    outcome: DraftOutcome


class Sampler:
    """Starts a Draft every 1/rate seconds; records each outcome under the phase current at its start."""

    def __init__(self, probe: Probe, clock: Clock, rate_hz: float) -> None:
        self._probe = probe
        self._clock = clock
        self._interval = 1.0 / rate_hz
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="draft-probe")
        self._lock = threading.Lock()
        self._samples: list[TimedSample] = []
        self._in_flight = 0
        self._pending: dict[int, tuple[float, Phase]] = {}
        self._next_id = 0
        self._skipped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.phase = Phase.PREPARE
        self._new_sample = threading.Condition(self._lock)
        self._paused = threading.Event()

    def set_rate(self, rate_hz: float) -> None:
        """Change the sampling rate from the next tick on."""
        self._interval = 1.0 / rate_hz

    def start(self) -> None:
        """Begin sampling on a background thread."""
        self._thread = threading.Thread(target=self._run, name="draft-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = self._clock.now()
        while not self._stop.is_set():
            if self._paused.is_set():
                self._stop.wait(self._interval)
                next_at = self._clock.now()
                continue
            with self._lock:
                busy = self._in_flight >= MAX_IN_FLIGHT
                if not busy:
                    self._in_flight += 1
                else:
                    self._skipped += 1
            if not busy:
                with self._lock:
                    self._next_id += 1
                    ident = self._next_id
                    self._pending[ident] = (self._clock.now(), self.phase)
                self._pool.submit(self._one, ident)
            next_at += self._interval
            delay = next_at - self._clock.now()
            if delay < -1.0:  # fell far behind (machine stalled): do not burst to catch up
                next_at = self._clock.now()
            self._stop.wait(max(delay, 0.0))

    def _one(self, ident: int) -> None:
        try:
            outcome = self._probe.draft()
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._new_sample:
            started_phase = self._pending.pop(ident, None)
            if started_phase is not None:  # None: already recorded as unanswered by stop()
                self._samples.append(TimedSample(*started_phase, outcome))
            self._new_sample.notify_all()

    def record(self, started: float, phase: Phase, outcome: DraftOutcome) -> None:
        """Add a Draft made elsewhere (the load generator) to the samples."""
        with self._new_sample:
            self._samples.append(TimedSample(started, phase, outcome))
            self._new_sample.notify_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Start no Draft inside the block, and wait for those in flight before entering it."""
        self._paused.set()
        deadline = self._clock.now() + 10.0
        while self._clock.now() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    break
            self.wait_for_sample(0.05)
        try:
            yield
        finally:
            self._paused.clear()

    def samples(self) -> list[TimedSample]:
        """Every sample so far, in completion order."""
        with self._lock:
            return list(self._samples)

    def in_flight(self, phase: Phase) -> list[float]:
        """Start times of the Drafts started in `phase` that have not been answered yet."""
        with self._lock:
            return [
                started for started, started_in in self._pending.values() if started_in is phase
            ]

    @property
    def skipped(self) -> int:
        """Ticks not sampled because MAX_IN_FLIGHT Drafts were outstanding."""
        return self._skipped

    def wait_for_sample(self, timeout_s: float) -> None:
        """Block until a new sample arrives or `timeout_s` passes."""
        with self._new_sample:
            self._new_sample.wait(timeout_s)

    def stop(self, drain_s: float = 10.0) -> None:
        """Stop scheduling; wait up to `drain_s` for Drafts in flight; never raises."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        deadline = self._clock.now() + drain_s
        while self._clock.now() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    break
            self.wait_for_sample(0.05)
        # A Draft still in flight after the drain was not answered: it counts, as a failure.
        with self._new_sample:
            now = self._clock.now()
            for started, phase in self._pending.values():
                latency = (now - started) * 1000
                unanswered = DraftOutcome(
                    None,
                    False,
                    False,
                    None,
                    None,
                    None,
                    latency,
                    f"no answer after {latency / 1000:.1f} s (still waiting when the probe stopped)",
                )
                self._samples.append(TimedSample(started, phase, unanswered))
            self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
