"""The sampler's in-flight Drafts and the restore watch's milestones, on fakes and a fake clock."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import pytest

from runner.clock import FakeClock, SystemClock
from runner.errors import ProbeError
from runner.probes.draft import DraftOutcome
from runner.probes.loadgen import LoadGenerator, LoadTarget
from runner.probes.sampler import Sampler
from runner.record import MilestoneName, Phase
from runner.restore import MilestoneWatch

ENRICHED = DraftOutcome(200, True, True, None, None, "ready", 1.0)


class HeldProbe:
    """Answers at once, except the Drafts it is told to hold until released."""

    def __init__(self) -> None:
        self.hold_next = threading.Event()
        self.release = threading.Event()
        self.held = threading.Event()

    def draft(self) -> DraftOutcome:
        if self.hold_next.is_set():
            self.hold_next.clear()
            self.held.set()
            self.release.wait(5.0)
            return DraftOutcome(200, True, False, "timeout", None, "ready", 900.0)
        return ENRICHED

    def close(self) -> None:
        return None


def test_a_held_draft_is_in_flight_until_answered_then_a_sample() -> None:
    probe = HeldProbe()
    sampler = Sampler(probe, SystemClock(), 100.0)
    sampler.phase = Phase.VERIFY
    probe.hold_next.set()
    sampler.start()
    try:
        assert probe.held.wait(2.0)
        assert len(sampler.in_flight(Phase.VERIFY)) == 1
        assert sampler.in_flight(Phase.STEADY) == []
        probe.release.set()
        sampler.wait_for_sample(0.5)
    finally:
        sampler.stop(2.0)
    assert sampler.in_flight(Phase.VERIFY) == []
    assert any(s.outcome.fallback_reason == "timeout" for s in sampler.samples())


def test_a_draft_still_unanswered_when_the_sampler_stops_counts_as_unanswered() -> None:
    probe = HeldProbe()
    sampler = Sampler(probe, SystemClock(), 50.0)
    sampler.phase = Phase.OBSERVE
    probe.hold_next.set()
    sampler.start()
    assert probe.held.wait(2.0)
    sampler.stop(drain_s=0.2)
    probe.release.set()
    unanswered = [s for s in sampler.samples() if not s.outcome.ok]
    assert len(unanswered) == 1 and "still waiting when the probe stopped" in str(
        unanswered[0].outcome.error
    )


class ScriptedWatch(MilestoneWatch):
    """Each check passes once the fake clock reaches its time (no network); one check at a time,
    as a fake clock needs (two threads sleeping on it would each move it)."""

    at: dict[str, float]

    def _check(self, name: str) -> Callable[[], bool]:
        return lambda: self.clock.now() - 1000.0 >= self.at.get(name, float("inf"))

    def _service_up(self) -> bool:
        return self._check("service_up")()

    def _health_versions(self) -> bool:
        return self._check("health_versions")()

    def _schema_ready(self) -> bool:
        return self._check("schema_ready")()

    def _consumer_repinned(self) -> bool:
        return self._check("consumer_repinned")()

    def _preflight_ready(self) -> bool:
        return self._check("preflight_ready")()

    def _enriched_draft(self) -> bool:
        return self._check("first_enriched_draft")()


def _watch(repinned_to: str | None, consumer: str | None = "http://c") -> ScriptedWatch:
    watch = ScriptedWatch(FakeClock(1000.0), "http://mk", consumer, ("service.v2", "api.v1"),
                          draft=lambda: ENRICHED, repinned_to=repinned_to,
                          consumer_side_together=False)  # fmt: skip
    watch.at = {"service_up": 0.1, "health_versions": 0.5, "schema_ready": 0.6,
                "consumer_repinned": 1.2, "preflight_ready": 1.3, "first_enriched_draft": 1.4}  # fmt: skip
    return watch


def test_each_milestone_is_timed_in_order_with_the_repin_when_the_consumer_is_repinned() -> None:
    milestones = _watch("v0.3.2").run(1000.0, 10.0)
    assert [m.name for m in milestones] == [
        MilestoneName.SERVICE_UP,
        MilestoneName.HEALTH_VERSIONS,
        MilestoneName.SCHEMA_READY,
        MilestoneName.CONSUMER_REPINNED,
        MilestoneName.PREFLIGHT_READY,
        MilestoneName.FIRST_ENRICHED_DRAFT,
    ]
    times = [m.at_s for m in milestones]
    assert times == pytest.approx([0.1, 0.5, 0.6, 1.2, 1.3, 1.4], abs=0.01)


def test_no_repin_no_repin_milestone_and_a_consumer_of_yours_keeps_its_milestones() -> None:
    names = [m.name for m in _watch(None).run(1000.0, 10.0)]
    assert MilestoneName.CONSUMER_REPINNED not in names and len(names) == 5
    # yours has no preflight route: both are read from its Draft answers, never left out
    milestones = _watch("v0.3.2", consumer=None).run(1000.0, 10.0)
    reached = {m.name: m.at_s for m in milestones}
    assert reached[MilestoneName.PREFLIGHT_READY] is not None
    assert reached[MilestoneName.CONSUMER_REPINNED] is not None


def test_a_milestone_never_reached_by_the_deadline_stays_null_and_the_rest_too() -> None:
    watch = _watch("v0.3.2")
    watch.at["consumer_repinned"] = 99.0
    milestones = {m.name: m.at_s for m in watch.run(1000.0, 5.0)}
    assert milestones[MilestoneName.SCHEMA_READY] is not None
    assert milestones[MilestoneName.CONSUMER_REPINNED] is None
    assert milestones[MilestoneName.FIRST_ENRICHED_DRAFT] is None


def test_a_load_worker_that_dies_is_an_error_not_lost_drafts() -> None:
    load = LoadGenerator(LoadTarget(url="http://127.0.0.1:9/v1/draft"), 2, 0.5)
    load.wait_ready(15.0)
    os.kill(load._processes[0].pid, signal.SIGKILL)
    load._processes[0].wait(5.0)
    load.go()
    with pytest.raises(ProbeError, match=r"load worker 0 .* exited with code -9"):
        load.stop(5.0)


def test_a_load_worker_that_never_says_ready_is_an_error() -> None:
    load = LoadGenerator(LoadTarget(url="http://127.0.0.1:9/v1/draft"), 1, 0.5)
    load._processes[0].kill()
    load._processes[0].wait(5.0)
    with pytest.raises(ProbeError, match="before saying ready"):
        load.wait_ready(5.0)
    with pytest.raises(ProbeError, match="exited with code -9"):
        load.stop(1.0)  # collecting what it left closes its pipes


def test_a_sample_starts_when_its_draft_starts_not_at_its_tick() -> None:
    """Start + latency is when the Draft ended, even when the worker thread started it late."""
    import time

    clock = SystemClock()
    probe = HeldProbe()
    sampler = Sampler(probe, clock, 20.0)
    sampler.phase = Phase.OBSERVE
    submit = sampler._pool.submit

    def late_submit(fn: Callable[..., object], *args: object) -> object:
        def late() -> object:
            time.sleep(0.3)  # the worker thread gets to it 0.3 s after the tick
            return fn(*args)

        return submit(late)

    sampler._pool.submit = late_submit  # type: ignore[method-assign]
    ticked = clock.now()
    sampler.start()
    sampler.wait_for_sample(2.0)
    sampler.stop(2.0)
    first = sampler.samples()[0]
    assert first.started >= ticked + 0.29
