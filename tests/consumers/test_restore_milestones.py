"""Restore milestones of a consumer of yours come from its Draft answers, never silently null."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runner.clock import FakeClock
from runner.probes.draft import DraftOutcome
from runner.record import Milestone
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


def watch_yours(clock: FakeClock, draft: Callable[[], DraftOutcome]) -> dict[str, Milestone]:
    """Watch a consumer of yours from now: its milestones by name."""
    watch = TimedWatch(
        clock=clock,
        memorykernel_url="http://127.0.0.1:9",
        consumer_url=None,
        expected_versions=("service.v2", "api.v1"),
        draft=draft,
    )
    return {m.name.value: m for m in watch.run(clock.now(), 5.0)}


def test_each_milestone_carries_the_watchs_resolution_beside_its_time() -> None:
    """A Draft takes 10 ms: the preflight is seen ready on the 4th, timed when the 4th was sent;
    the resolution is the 3rd check plus the gap after it, not the time since the restore started.
    That answer was enriched too: it is the first enriched Draft, no 5th Draft asked for."""
    clock = FakeClock()
    calls: list[int] = []

    def draft() -> DraftOutcome:
        clock.advance(0.010)
        calls.append(1)
        ready = len(calls) >= 4
        return answer("ready" if ready else "offline", applied=ready)

    milestones = watch_yours(clock, draft)
    preflight, first = milestones["preflight_ready"], milestones["first_enriched_draft"]
    gap = CONSUMER_POLL_INTERVAL_S
    assert preflight.at_s == pytest.approx(3 * (0.010 + gap))
    assert preflight.resolution_s == pytest.approx(0.010 + gap)
    assert first.at_s == preflight.at_s and first.resolution_s == preflight.resolution_s
    assert len(calls) == 4
    assert milestones["service_up"].resolution_s == 0.0


def test_a_ready_preflight_that_is_not_enriched_yet_asks_for_the_next_draft() -> None:
    """Your consumer says its preflight is ready but falls back (the ask still fails): the first
    enriched Draft is a later one, timed when it was asked for."""
    clock = FakeClock()
    calls: list[int] = []

    def draft() -> DraftOutcome:
        clock.advance(0.010)
        calls.append(1)
        return answer("ready", applied=len(calls) >= 3)

    milestones = watch_yours(clock, draft)
    preflight, first = milestones["preflight_ready"], milestones["first_enriched_draft"]
    gap = CONSUMER_POLL_INTERVAL_S
    assert preflight.at_s == 0.0
    assert first.at_s == pytest.approx(2 * 0.010 + gap)
    assert first.resolution_s == pytest.approx(0.010 + gap)
    assert len(calls) == 3


@pytest.mark.parametrize("restored_at", [0.0005, 0.0123, 0.0217, 0.0301, 0.0449])
def test_the_restore_lies_within_the_resolution_before_the_time_reported(
    restored_at: float,
) -> None:
    """A Draft is asked for, the consumer calls MemoryKernel 1 ms later, its answer comes back
    after 10 ms (fallbacks after 4 ms). The time reported is when the enriched Draft was asked
    for, never its answer's return, and the true restore lies in the interval its resolution
    names (give or take the consumer's 1 ms before it calls)."""
    clock = FakeClock()
    started = clock.now()

    def draft() -> DraftOutcome:
        enriched = clock.now() + 0.001 - started >= restored_at
        clock.advance(0.010 if enriched else 0.004)
        return answer("ready" if enriched else "offline", applied=enriched)

    first = watch_yours(clock, draft)["first_enriched_draft"]
    assert first.at_s is not None and first.resolution_s is not None
    assert first.at_s - first.resolution_s <= restored_at <= first.at_s + 0.001
    assert first.resolution_s <= 0.004 + CONSUMER_POLL_INTERVAL_S + 1e-9


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


def test_the_preflight_route_is_polled_at_its_own_pace_beside_the_drafts() -> None:
    """Each preflight check makes the consumer call MemoryKernel as a Draft does: polled beside
    the Drafts, it waits PREFLIGHT_POLL_INTERVAL_S between checks so as not to hold them up,
    while the Drafts (the restore clock) keep CONSUMER_POLL_INTERVAL_S."""
    import threading

    from runner.clock import SystemClock
    from runner.restore import PREFLIGHT_POLL_INTERVAL_S

    class RecordingClock(SystemClock):
        def __init__(self) -> None:
            super().__init__()
            self.slept: dict[str, set[float]] = {}

        def sleep(self, seconds: float) -> None:
            self.slept.setdefault(threading.current_thread().name, set()).add(seconds)
            super().sleep(seconds)

    drafts: list[int] = []

    def draft() -> DraftOutcome:
        threading.Event().wait(0.01)  # a round trip, so the preflight route is checked meanwhile
        drafts.append(1)
        return answer("ready", applied=len(drafts) >= 5)

    class NeverReady(TimedWatch):
        def _preflight_ready(self) -> bool:
            return False

    clock = RecordingClock()
    watch = NeverReady(
        clock=clock,
        memorykernel_url="http://127.0.0.1:9",
        consumer_url="http://127.0.0.1:9",
        expected_versions=("service.v2", "api.v1"),
        draft=draft,
    )
    watch.run(clock.now(), 5.0)
    assert clock.slept[threading.current_thread().name] == {CONSUMER_POLL_INTERVAL_S}
    assert clock.slept["restore-watch-preflight"] == {PREFLIGHT_POLL_INTERVAL_S}
    assert PREFLIGHT_POLL_INTERVAL_S > CONSUMER_POLL_INTERVAL_S


def test_the_watch_ends_at_the_first_enriched_draft_not_after_a_preflight_check_on_its_way() -> (
    None
):
    """A preflight check sent while the fault held the consumer's call can take its whole timeout;
    the first enriched Draft has ended the watch by then, and the restore does not wait for it."""
    import threading

    import httpx

    from runner.clock import SystemClock

    watch_returned = threading.Event()
    release = threading.Event()
    check_ended_after_watch: list[bool] = []

    class SlowPreflight(TimedWatch):
        def _preflight_ready(self) -> bool:
            release.wait(10.0)
            check_ended_after_watch.append(watch_returned.is_set())
            return True

    clock = SystemClock()
    watch = SlowPreflight(
        clock=clock,
        memorykernel_url="http://127.0.0.1:9",
        consumer_url="http://127.0.0.1:9",
        expected_versions=("service.v2", "api.v1"),
        draft=lambda: answer("ready", applied=True),
    )
    with httpx.Client() as http, httpx.Client() as preflight_http:
        milestones = {
            m.name.value: m.at_s for m in watch.run(clock.now(), 5.0, http, preflight_http)
        }
        watch_returned.set()
        release.set()
        watch.finish(5.0)
    assert check_ended_after_watch == [True]
    assert milestones["first_enriched_draft"] is not None
    # the Draft proved the preflight ready; the late check's answer changed nothing reported
    assert milestones["preflight_ready"] == milestones["first_enriched_draft"]
