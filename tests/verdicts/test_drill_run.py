"""One drill's phases on a fake environment and a fake consumer: no process, no network."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runner import drill_run, path_guard
from runner.backends.base import ConsumerSettings, DatabaseState, Endpoints, Environment
from runner.clock import SystemClock
from runner.consumers.control import ReferenceControl
from runner.drill_run import DrillRun, DrillSettings
from runner.engine import Engine, EnvironmentFailure, Releases, RunPlan
from runner.errors import FaultUnsupported
from runner.faults.catalog import FaultContext
from runner.faults.toxiproxy import ToxiproxyControl
from runner.loader import LoadedDrill, parse_drill_text
from runner.path_guard import PathGuard
from runner.pins import default_pin_path, load_pin
from runner.probes.draft import DraftOutcome
from runner.record import Milestone, MilestoneName, Phase, Verdict

PIN = load_pin(default_pin_path("v0.4.0"))
ENDPOINTS = Endpoints("http://consumer", "http://mk", "http://127.0.0.1:1")


class FakeEnvironment(Environment):
    """MemoryKernel up or down; `kill` is a fault this backend cannot inject."""

    kind = "fake"

    def __init__(self) -> None:
        self.down_now = False
        self.release = "v0.4.0"

    def up(self, release: str, consumer: ConsumerSettings) -> Endpoints:
        return ENDPOINTS

    def down(self) -> None: ...

    def status(self) -> list:  # type: ignore[type-arg]
        return []

    @property
    def toxiproxy_kind(self) -> str:
        return "fake"

    @property
    def memorykernel_release(self) -> str:
        return self.release

    def memorykernel_upstream(self) -> str:
        return "127.0.0.1:1"

    def stop_memorykernel(self) -> None:
        self.down_now = True

    def kill_memorykernel(self) -> None:
        raise FaultUnsupported("fault kind 'kill' is not supported by the fake backend")

    def pause_memorykernel(self) -> None: ...
    def unpause_memorykernel(self) -> None: ...

    def start_memorykernel(self, release: str, database: DatabaseState = "normal") -> None:
        self.down_now, self.release = False, release

    def run_sql(self, statement: str) -> None: ...
    def disconnect_network(self) -> None: ...
    def reconnect_network(self) -> None: ...
    def restart_consumer(self, consumer: ConsumerSettings) -> None: ...
    def set_consumer_env(self, values: dict[str, str | None]) -> None: ...

    def start_responder(self, mode: str) -> str:
        return "127.0.0.1:1"

    def stop_responder(self) -> None: ...


class FakeConsumer:
    """AssistSupport's answer for the environment's state; offline Drafts take `slow_s`."""

    def __init__(self, env: FakeEnvironment, slow_s: float = 0.0) -> None:
        self.env, self.slow_s = env, slow_s

    def draft(self) -> DraftOutcome:
        if self.env.down_now:
            time.sleep(self.slow_s)
            if not self.env.down_now:  # the fault went away while this Draft waited
                return DraftOutcome(
                    200, True, False, "query-error", None, "ready", self.slow_s * 1000
                )
            return DraftOutcome(
                200, True, False, "offline", None, "offline", self.slow_s * 1000 + 1
            )
        return DraftOutcome(200, True, True, None, None, "ready", 1.0)

    def close(self) -> None: ...


class InstantWatch:
    """Every restore milestone at once: the watch itself is tested apart."""

    consumer_gate = None  # no proxy flush held back for the consumer steps

    def __init__(self, **_: object) -> None: ...

    def run(
        self, started: float, deadline_s: float, http: object = None, preflight_http: object = None
    ) -> list[Milestone]:
        return [
            Milestone(name=name, at_s=0.01 * i, resolution_s=0.001 * i)
            for i, name in enumerate(MilestoneName, 1)
        ]

    def finish(self, timeout_s: float) -> None: ...


@pytest.fixture(autouse=True)
def instant_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drill_run, "MilestoneWatch", InstantWatch)


def _loaded(fault: str, window: str = "0.6") -> LoadedDrill:
    text = f"""\
name: fake-{fault}
description: fake
suites: [nightly]
fault: {{kind: {fault}}}
window_s: {window}
expect: {{during: fallback, fallback_reasons: [offline]}}
recover: {{kind: remove_fault, budget_s: 5}}
"""
    return LoadedDrill(parse_drill_text(text, f"{fault}.yaml"), Path(f"{fault}.yaml"))


def _ctx(env: FakeEnvironment) -> FaultContext:
    return FaultContext(
        env=env, endpoints=ENDPOINTS, toxiproxy=ToxiproxyControl(ENDPOINTS.toxiproxy_url),
        clock=SystemClock(), baseline=PIN, consumer=ConsumerSettings(pin=PIN),
        resolve_release=lambda ref: ref, pin_for_release=lambda tag: PIN,
        target=ReferenceControl(env),
    )  # fmt: skip


SETTINGS = DrillSettings(rate_hz=50.0, steady_timeout_s=3.0)


def _run(loaded: LoadedDrill, env: FakeEnvironment, slow_s: float = 0.0):  # type: ignore[no-untyped-def]
    consumer = FakeConsumer(env, slow_s)
    run = DrillRun(loaded, _ctx(env), lambda timeout: consumer, SystemClock(), SETTINGS,
                   lambda drill, phase: None, watch_preflight=False)  # fmt: skip
    return run.run("2026-01-01T00:00:00Z")


def test_a_fault_drill_passes_and_judges_only_drafts_answered_inside_the_window() -> None:
    # Offline Drafts take 0.2 s: those in flight at the removal come back query-error (as a hang
    # released by the removal does); they are shown apart and never judged.
    result = _run(_loaded("stop"), FakeEnvironment(), slow_s=0.2)
    assert result.verdict is Verdict.PASSED, result.reason
    assert set(result.fallback_reasons) == {"offline"}
    assert set(result.other_fallback_reasons) <= {"query-error"}
    assert sum(result.fallback_reasons.values()) >= 5
    ttr = result.time_to_restore
    assert ttr is not None and ttr.total_s == ttr.milestones[-1].at_s
    assert ttr.resolution_s == ttr.milestones[-1].resolution_s  # the clock's beside its time


def test_a_fault_the_backend_cannot_inject_skips_the_drill_and_says_why() -> None:
    env = FakeEnvironment()
    result = _run(_loaded("kill"), env)
    assert result.verdict is Verdict.SKIPPED
    assert result.reason == "skipped: fault kind 'kill' is not supported by the fake backend"
    assert result.time_to_restore is None and not env.down_now


class Quiet:
    """A run listener that hears nothing."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *args, **kwargs: None


def _engine(
    tmp_path: Path, drills: list[LoadedDrill], env: FakeEnvironment, consumer: FakeConsumer
) -> Engine:
    plan = RunPlan(
        run_id="r", drills=drills, consumer_pin=PIN,
        releases=Releases(baseline=PIN, candidate="v0.3.2"), backend="fake", suite="nightly",
        out_dir=tmp_path, drill_settings=SETTINGS,
    )  # fmt: skip
    return Engine(plan, env, SystemClock(), Quiet(), probe_factory=lambda ep, t: consumer,
                  watch_preflight=False)  # fmt: skip


def test_the_run_goes_on_after_a_skipped_drill_and_passes(tmp_path: Path) -> None:
    env = FakeEnvironment()
    record = _engine(tmp_path, [_loaded("kill"), _loaded("stop")], env, FakeConsumer(env)).run()
    assert [d.verdict for d in record.drills] == [Verdict.SKIPPED, Verdict.PASSED]
    assert record.verdict is Verdict.PASSED
    assert record.reason == "1 of 2 drills passed, 1 skipped (fake-kill)"


def test_verify_waits_for_a_draft_in_flight_before_counting_enriched_in_a_row() -> None:
    # The first verify Draft is held for 1 s and then falls back; the enriched Drafts started after
    # it must not make "5 enriched in a row" while it is in flight (verify used to pass at once).
    env = FakeEnvironment()
    verifying = threading.Event()

    class FirstVerifyDraftHeld(FakeConsumer):
        held = threading.Lock()

        def draft(self) -> DraftOutcome:
            if verifying.is_set() and self.held.acquire(blocking=False):
                time.sleep(1.0)
                return DraftOutcome(200, True, False, "offline", None, "offline", 1000.0)
            return super().draft()

    def on_phase(drill: str, phase: Phase) -> None:
        if phase is Phase.VERIFY:
            verifying.set()

    reached: dict[Phase, float] = {}

    class TimedRun(DrillRun):
        def _await_enriched(self, sampler, phase):  # type: ignore[no-untyped-def]
            ok = super()._await_enriched(sampler, phase)
            reached[phase] = self.clock.now() - self._t0
            return ok

    consumer = FirstVerifyDraftHeld(env)
    run = TimedRun(_loaded("stop"), _ctx(env), lambda timeout: consumer, SystemClock(), SETTINGS,
                   on_phase, watch_preflight=False)  # fmt: skip
    result = run.run("2026-01-01T00:00:00Z")
    assert result.verdict is Verdict.PASSED, result.reason
    held = [s for s in result.samples if s.phase is Phase.VERIFY and not s.applied]
    assert len(held) == 1 and held[0].latency_ms == 1000.0
    # the verify wait ended only after the held Draft was answered (and 5 enriched followed it)
    assert reached[Phase.VERIFY] >= held[0].t_s + 1.0


class RestartedIntoAJam(FakeEnvironment):
    """Once MemoryKernel is started again, the path through the proxy never answers."""

    jammed = False

    def start_memorykernel(self, release: str, database: DatabaseState = "normal") -> None:
        super().start_memorykernel(release, database)
        self.jammed = True


class JammedConsumer(FakeConsumer):
    """Every Draft falls back offline once the path is jammed."""

    env: RestartedIntoAJam

    def draft(self) -> DraftOutcome:
        if self.env.jammed:
            return DraftOutcome(200, True, False, "offline", None, "offline", 1.0)
        return super().draft()


def test_a_path_left_broken_beyond_repair_stops_the_run_as_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the first drill the Drafts are never enriched again while MemoryKernel answers
    # directly and the proxy does not (a jam no repair clears): that drill carries the evidence
    # and every repair tried, the run stops (exit 3, saying why) and the next drill never runs.
    monkeypatch.setattr(path_guard, "RECHECK_S", 0.3)
    monkeypatch.setattr(
        path_guard,
        "_health",
        lambda url: (
            (True, "200 in 1.0 ms") if url.startswith("http://mk") else (False, "no answer")
        ),
    )
    tried: list[str] = []
    monkeypatch.setattr(path_guard, "flush_proxy", lambda ctx: tried.append("flush"))
    monkeypatch.setattr(PathGuard, "_recreate_proxy", lambda self: tried.append("re-create"))
    env = RestartedIntoAJam()
    engine = _engine(tmp_path, [_loaded("stop"), _loaded("disabled")], env, JammedConsumer(env))
    with pytest.raises(EnvironmentFailure) as raised:
        engine.run()
    assert raised.value.exit_code == 3
    assert "could not be repaired after this drill" in str(raised.value)
    record = engine.last_record
    assert record is not None and record.verdict is Verdict.ERROR
    [broke] = record.drills  # the next drill never started
    assert broke.verdict is Verdict.ERROR and broke.path_check is not None
    check = broke.path_check
    assert not check.healthy and not check.repaired
    assert check.evidence["memorykernel"] == "200 in 1.0 ms"
    assert check.evidence["through_proxy"] == "no answer"
    assert [r.action for r in check.repairs] == ["flush proxy memorykernel",
                                                  "re-create proxy memorykernel"]  # fmt: skip
    assert all(r.outcome == "the path still does not answer" for r in check.repairs)
    assert tried == ["flush", "re-create"]
