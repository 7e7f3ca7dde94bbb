"""Restore milestones of a consumer of yours come from its Draft answers, never silently null."""

from __future__ import annotations

import pytest

from runner.clock import FakeClock
from runner.probes.draft import DraftOutcome
from runner.restore import CONSUMER_POLL_INTERVAL_S, MilestoneWatch, WatchThread


def watch(outcome: DraftOutcome, repinned_to: str | None = None) -> MilestoneWatch:
    return MilestoneWatch(
        clock=FakeClock(),
        memorykernel_url="http://127.0.0.1:9",
        consumer_url=None,
        expected_versions=("service.v2", "api.v1"),
        draft=lambda: outcome,
        repinned_to=repinned_to,
    )


def answer(preflight: str | None, applied: bool, pin: str | None = None) -> DraftOutcome:
    return DraftOutcome(200, True, applied, None, None, preflight, 5.0, consumer_pin=pin)


def test_preflight_ready_is_read_from_the_draft_answer() -> None:
    assert watch(answer("ready", applied=False))._preflight_ready()
    assert not watch(answer("offline", applied=False))._preflight_ready()
    # a consumer whose answer carries no preflight: an enriched Draft means it passed
    assert watch(answer(None, applied=True))._preflight_ready()
    assert not watch(answer(None, applied=False))._preflight_ready()


def test_the_repin_is_read_from_the_pin_the_draft_answer_names() -> None:
    repinned = answer("ready", True, pin="v0.3.2 service.v2/api.v1")
    assert watch(repinned, repinned_to="v0.3.2")._consumer_repinned()
    still = answer("version-mismatch", False, pin="v0.4.0 service.v3/api.v1")
    assert not watch(still, repinned_to="v0.3.2")._consumer_repinned()


class TimedWatch(MilestoneWatch):
    """MemoryKernel's side answers at once; only the consumer's Drafts take time."""

    def _service_up(self) -> bool:
        return True

    def _health_versions(self) -> bool:
        return True

    def _schema_ready(self) -> bool:
        return True


def test_each_milestone_carries_the_watchs_resolution_beside_its_time() -> None:
    """A Draft takes 10 ms: the preflight is seen ready on the 4th, the resolution is that check
    plus the gap before it (the end of the 3rd), not the time since the restore started."""
    clock = FakeClock()
    calls: list[int] = []

    def draft() -> DraftOutcome:
        clock.advance(0.010)
        calls.append(1)
        ready = len(calls) >= 4
        return answer("ready" if ready else "offline", applied=ready)

    started = clock.now()
    watch = TimedWatch(
        clock=clock,
        memorykernel_url="http://127.0.0.1:9",
        consumer_url=None,
        expected_versions=("service.v2", "api.v1"),
        draft=draft,
    )
    milestones = {m.name.value: m for m in watch.run(started, 5.0)}
    preflight, first = milestones["preflight_ready"], milestones["first_enriched_draft"]
    gap = CONSUMER_POLL_INTERVAL_S
    assert preflight.at_s == pytest.approx(4 * 0.010 + 3 * gap)
    assert preflight.resolution_s == pytest.approx(0.010 + gap)
    assert first.at_s == pytest.approx(preflight.at_s + 0.010)
    assert first.resolution_s == pytest.approx(0.010)
    assert milestones["service_up"].resolution_s == 0.0


def test_the_watch_thread_is_ready_before_the_restore_starts_and_closes_what_it_made() -> None:
    closed: list[str] = []

    class Probe:
        def draft(self) -> DraftOutcome:
            return answer("ready", applied=True)

        def close(self) -> None:
            closed.append("probe")

    clock = FakeClock()
    watcher = WatchThread(Probe())
    assert not watcher.milestones  # waiting: nothing watched before start
    watch = TimedWatch(
        clock=clock,
        memorykernel_url="http://127.0.0.1:9",
        consumer_url=None,
        expected_versions=("service.v2", "api.v1"),
        draft=watcher.probe.draft,
    )
    watcher.start(watch, clock.now(), 5.0)
    watcher.join(10.0)
    assert [m.at_s for m in watcher.milestones][-1] == 0.0
    watcher.close()
    assert closed == ["probe"]
    unused = WatchThread(Probe())
    unused.close()  # never started on a watch: its thread ends, the probe is closed
    assert closed == ["probe", "probe"]


def test_the_first_enriched_draft_is_not_held_up_behind_the_consumers_preflight_check() -> None:
    """With the consumer's preflight route still failing, Drafts are watched beside it: the first
    enriched one is reached, and proves the preflight ready at the same moment."""
    import threading

    from runner.clock import SystemClock

    preflight_asked = threading.Event()

    class SlowPreflight(TimedWatch):
        def _preflight_ready(self) -> bool:
            preflight_asked.set()
            return False  # its route never says ready within the watch

    watch = SlowPreflight(
        clock=SystemClock(),
        memorykernel_url="http://127.0.0.1:9",
        consumer_url="http://127.0.0.1:9",
        expected_versions=("service.v2", "api.v1"),
        draft=lambda: answer("ready", applied=True),
    )
    clock = SystemClock()
    milestones = {m.name.value: m for m in watch.run(clock.now(), 5.0)}
    first, preflight = milestones["first_enriched_draft"], milestones["preflight_ready"]
    assert preflight_asked.is_set()
    assert first.at_s is not None and first.resolution_s is not None
    assert preflight.at_s == first.at_s and preflight.resolution_s == first.resolution_s
    assert list(milestones) == ["service_up", "health_versions", "schema_ready",
                                "preflight_ready", "first_enriched_draft"]  # fmt: skip
