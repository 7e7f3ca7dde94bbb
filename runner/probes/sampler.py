"""Closed-loop Draft pacing: a Draft starts when one of the slots is free, never faster than the rate.

A consumer slower than the probe's rate never builds a queue: at most `slots` Drafts are in flight
(each slot waits for its Draft's answer before it starts another), and starts are spaced at least
1/rate apart on average, so over any span T at most rate × T + 2 Drafts start. Both change per phase
(`set_pace`), from the next start on.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from runner.clock import Clock
from runner.probes.draft import DraftOutcome, Probe
from runner.record import Phase

MAX_SLOTS = 128
SLOT_POLL_S = 0.05  # how often a full sampler re-checks stop/pause while it waits for a slot


@dataclass(frozen=True)
class TimedSample:
    """A Draft outcome with the monotonic time its request started and the phase it started in."""

    started: float
    phase: Phase
    outcome: DraftOutcome


class Sampler:
    """Starts Drafts on `slots` slots at most `rate_hz` a second; records each under its start phase."""

    def __init__(self, probe: Probe, clock: Clock, rate_hz: float, slots: int = MAX_SLOTS) -> None:
        self._probe = probe
        self._clock = clock
        self._interval = 1.0 / rate_hz
        self._slots = _bounded_slots(slots)
        self._pool = ThreadPoolExecutor(max_workers=MAX_SLOTS, thread_name_prefix="draft-probe")
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a Draft finished, or the pace changed
        self._samples: list[TimedSample] = []
        self._in_flight = 0
        self._most_in_flight = 0
        self._pending: dict[int, tuple[float, Phase]] = {}
        self._next_id = 0
        self._slot_waits = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.phase = Phase.PREPARE
        self._paused = threading.Event()

    def set_rate(self, rate_hz: float) -> None:
        """Change the rate from the next start on (slots unchanged)."""
        self.set_pace(rate_hz, self._slots)

    def set_pace(self, rate_hz: float, slots: int) -> None:
        """Change the rate and the number of slots from the next start on."""
        with self._changed:
            self._interval = 1.0 / rate_hz
            self._slots = _bounded_slots(slots)
            self._changed.notify_all()

    def start(self) -> None:
        """Begin sampling on a background thread."""
        self._thread = threading.Thread(target=self._run, name="draft-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = self._clock.now()
        while not self._stop.is_set():
            if self._paused.is_set():
                self._stop.wait(SLOT_POLL_S)
                next_at = self._clock.now()
                continue
            if not self._take_slot():
                continue
            if self._stop.is_set():  # stopped while it waited for that slot: nothing more starts
                self._release_slot()
                break
            now = self._clock.now()
            if now < next_at:
                self._release_slot()
                self._stop.wait(next_at - now)
                continue
            with self._lock:
                self._next_id += 1
                ident = self._next_id
                self._pending[ident] = (now, self.phase)
                interval = self._interval
            self._pool.submit(self._one, ident)
            # Never two starts closer than the interval on average: a late start (a slot freed
            # late, the machine stalled) is not made up by a burst.
            next_at = max(next_at + interval, now)

    def _take_slot(self) -> bool:
        """Reserve a slot, waiting (bounded) for one to free up; False: re-check stop/pause first."""
        with self._changed:
            if self._in_flight >= self._slots:
                self._slot_waits += 1
                self._changed.wait(SLOT_POLL_S)
                if self._in_flight >= self._slots:
                    return False
            self._in_flight += 1
            self._most_in_flight = max(self._most_in_flight, self._in_flight)
            return True

    def _release_slot(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def _one(self, ident: int) -> None:
        # The Draft starts now, not at its tick: a worker thread that started late (a busy
        # interpreter) must not make the sample look as if it ended earlier than it did, or a
        # Draft broken by the fault's removal is judged as one that ended during the fault.
        with self._lock:
            scheduled = self._pending.get(ident)
            if scheduled is not None:
                self._pending[ident] = (self._clock.now(), scheduled[1])
        try:
            outcome = self._probe.draft()
        finally:
            with self._changed:
                self._in_flight -= 1
                started_phase = self._pending.pop(ident, None)
                if started_phase is not None:  # None: already recorded as unanswered by stop()
                    self._samples.append(TimedSample(*started_phase, outcome))
                self._changed.notify_all()

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
    def slot_waits(self) -> int:
        """How often a start waited because every slot had a Draft in flight."""
        return self._slot_waits

    @property
    def most_in_flight(self) -> int:
        """The most Drafts that were in flight at once."""
        return self._most_in_flight

    def wait_for_sample(self, timeout_s: float) -> None:
        """Block until a new sample arrives or `timeout_s` passes."""
        with self._changed:
            self._changed.wait(timeout_s)

    def stop(self, drain_s: float = 10.0) -> None:
        """Stop scheduling; wait up to `drain_s` for Drafts in flight; never raises."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()  # a sampler waiting for a slot stops now, not at its next poll
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        deadline = self._clock.now() + drain_s
        while self._clock.now() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    break
            self.wait_for_sample(0.05)
        # A Draft still in flight after the drain was not answered: it counts, as a failure.
        with self._changed:
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


def _bounded_slots(slots: int) -> int:
    return max(1, min(int(slots), MAX_SLOTS))
