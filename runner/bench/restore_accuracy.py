"""Time-to-restore accuracy: a restore whose true duration is known, timed by the engine's watch.

The fault responder answers `status:502` in front of MemoryKernel (Toxiproxy's upstream is
switched to it, as a responder drill does, so the consumer sees the 502s). The restore starts at t0; a timer thread
switches the responder back to passthrough at t0 + delay, and the moment it did so is the true
restore duration (a timer woken late on a busy machine is the bench's lateness, kept apart in
flip_late_s, not the watch's error; no busy-wait either, which would hold the interpreter lock the
watch and the responder need just then). The watch is built the way
`DrillRun._restore` builds it (MemoryKernel checked directly, the consumer's preflight and an
enriched Draft through the proxy; its Draft probe, HTTP client and thread made before t0, as a
drill makes them before the fault), so the error measured is the error a drill's report carries:
measured time-to-restore - delay. Each trial keeps the watch's resolution beside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from runner.backends.local import LOOPBACK
from runner.bench.load import LoadSpan, between, snapshot
from runner.bench.services import SharedServices
from runner.clock import SystemClock
from runner.errors import EnvironmentProblem
from runner.faults.responder import FaultResponder
from runner.faults.toxiproxy import ToxiproxyControl
from runner.probes.draft import HttpDraftProbe
from runner.restore import MilestoneWatch, WatchThread

RESTORE_DELAY_S = 2.0
WATCH_GRACE_S = 5.0
FAULT_SETTLE_S = 5.0


@dataclass(frozen=True)
class RestoreTrial:
    """One timed restore."""

    delay_s: float  # the restore duration scripted
    measured_s: float | None  # the watch's time to the first enriched Draft; None: never reached
    flip_late_s: float  # how late the timer flipped the responder (the bench's own lateness)
    milestones: dict[str, float | None]
    load: LoadSpan | None = None  # the machine during the trial
    resolution_s: float | None = None  # the watch's resolution at the first enriched Draft
    switched_s: float | None = None  # the true restore duration: when the responder switched

    @property
    def error_s(self) -> float | None:
        """Measured - true restore duration (the switch's moment, else the one scripted)."""
        if self.measured_s is None:
            return None
        return self.measured_s - (self.switched_s if self.switched_s is not None else self.delay_s)


def _flip_at(when: float, flip: Callable[[], None], flipped: list[float]) -> None:
    """Flip at `when` (or as soon after as this thread wakes); note the moment it flipped."""
    remaining = when - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    flipped.append(time.monotonic())  # just before: the switch takes effect inside flip()
    flip()


def _await_fallback(probe: HttpDraftProbe) -> None:
    """The fault is in effect once a Draft falls back; a trial started earlier would measure nothing."""
    deadline = time.monotonic() + FAULT_SETTLE_S
    while time.monotonic() < deadline:
        outcome = probe.draft()
        if outcome.ok and not outcome.applied:
            return
        time.sleep(0.01)
    raise EnvironmentProblem(
        f"Drafts still enriched {FAULT_SETTLE_S:.0f} s after the responder switched to status:502"
    )


def restore_trials(
    services: SharedServices,
    trials: int,
    delay_s: float = RESTORE_DELAY_S,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[RestoreTrial]:
    """`trials` scripted restores of exactly `delay_s` against the shared services."""
    endpoints = services.endpoints
    pin = services.consumer.pin
    clock = SystemClock()
    draft_url = f"{endpoints.consumer_url}/v1/draft"
    results: list[RestoreTrial] = []
    toxiproxy = ToxiproxyControl(endpoints.toxiproxy_url)
    with FaultResponder(
        endpoints.memorykernel_url, "status:502", host=LOOPBACK, port=0
    ) as responder:
        undo = toxiproxy.set_upstream(endpoints.proxy_name, f"{LOOPBACK}:{responder.port}")
        checker = HttpDraftProbe(draft_url, 2.0)
        try:
            for index in range(trials):
                responder.set_mode("status:502")
                _await_fallback(checker)
                flipped: list[float] = []
                # As DrillRun: the watcher (its probe, client and thread) is ready before the start.
                watcher = WatchThread(HttpDraftProbe(draft_url, 1.0))
                watch = MilestoneWatch(
                    clock=clock,
                    memorykernel_url=endpoints.memorykernel_url,
                    consumer_url=endpoints.consumer_url,
                    expected_versions=(
                        pin.expected_service_contract_version,
                        pin.expected_api_contract_version,
                    ),
                    draft=watcher.probe.draft,
                )
                before = snapshot()
                started = clock.now()
                timer = threading.Thread(
                    target=_flip_at,
                    args=(started + delay_s, lambda: responder.set_mode("passthrough"), flipped),
                    name="restore-flip",
                    daemon=True,
                )
                timer.start()
                try:
                    watcher.start(watch, started, delay_s + WATCH_GRACE_S)
                    watcher.join(delay_s + WATCH_GRACE_S + 5.0)
                finally:
                    watcher.close()
                milestones = watcher.milestones
                timer.join(timeout=delay_s + WATCH_GRACE_S)
                load = between(before, snapshot())
                trial = RestoreTrial(
                    delay_s=delay_s,
                    measured_s=milestones[-1].at_s if milestones else None,
                    flip_late_s=(flipped[0] - (started + delay_s)) if flipped else float("nan"),
                    milestones={m.name.value: m.at_s for m in milestones},
                    load=load,
                    resolution_s=milestones[-1].resolution_s if milestones else None,
                    switched_s=(flipped[0] - started) if flipped else None,
                )
                results.append(trial)
                error = f"{trial.error_s * 1000:+.1f} ms" if trial.error_s is not None else "never"
                resolution = (
                    f", resolution {trial.resolution_s * 1000:.1f} ms"
                    if trial.resolution_s is not None
                    else ""
                )
                progress(
                    f"restore {delay_s:g} s {index + 1}/{trials}: error {error}{resolution} "
                    f"({load.describe()})"
                )
        finally:
            checker.close()
            undo()
    return results
