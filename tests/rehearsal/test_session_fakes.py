"""The incident's schedule and a session's endings on a fake environment and consumer: no process, no network."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runner.backends.base import ConsumerSettings, Endpoints
from runner.clock import SystemClock
from runner.errors import Interrupted
from runner.faults.catalog import FaultContext
from runner.probes.draft import Probe
from runner.rehearsal import incident as incident_module
from runner.rehearsal.commands import Command, Diagnose, Quit
from runner.rehearsal.incident import FaultChange, Incident
from runner.rehearsal.plan import RehearsalPlan
from runner.rehearsal.session import OperatorIdle, OperatorQuit, RehearsalSession
from runner.rehearsal.state import RehearsalState
from runner.spec import Fault, describe_fault
from runner.trio import embedded_trio
from tests.rehearsal.factory import SCENARIO_TEXT, scenario
from tests.verdicts.test_drill_run import PIN, FakeConsumer, FakeEnvironment, _ctx

LOOPBACK = Endpoints("http://127.0.0.1:1", "http://127.0.0.1:1", "http://127.0.0.1:1")


class LoopbackEnvironment(FakeEnvironment):
    """The fake environment, its addresses refusing at once (the health watch polls them)."""

    def __init__(self) -> None:
        super().__init__()
        self.downed = False

    def up(self, release: str, consumer: ConsumerSettings) -> Endpoints:
        return LOOPBACK

    def down(self) -> None:
        self.downed = True


class ScriptedOperator:
    """Types the given commands at the given incident times; never touches a key otherwise."""

    def __init__(
        self, script: list[tuple[float, Command]] | None = None, idle: bool = False
    ) -> None:
        self.script = list(script or [])
        self.idle = idle
        self.started = time.monotonic()

    def commands(self, state: RehearsalState, now: float, faults_all_in: bool) -> list[Command]:
        time.sleep(0.02)
        due = [c for at, c in self.script if state.rel(now) >= at]
        self.script = [(at, c) for at, c in self.script if state.rel(now) < at]
        return due

    def show(self, state: RehearsalState, now: float, consumer_pin: str) -> None: ...

    def idle_since(self) -> float | None:
        return self.started if self.idle else None


def _plan(tmp_path: Path, idle_limit_s: float = 300.0) -> RehearsalPlan:
    return RehearsalPlan(
        rehearsal_id="test-rehearsal",
        scenario=scenario(),
        scenario_file=Path("fake.yaml"),
        mode="interactive",
        blind=False,
        backend="fake",
        consumer_pin=PIN,
        consumer_trio=embedded_trio("v0.4.0"),
        target=None,
        out_dir=tmp_path / "out",
        timeout_ms=500,
        timeout_from_pin=False,
        rate_hz=50.0,
        idle_limit_s=idle_limit_s,
    )


def _session(
    tmp_path: Path,
    env: LoopbackEnvironment,
    operator: ScriptedOperator,
    idle_limit_s: float = 300.0,
) -> RehearsalSession:
    def probe(url: str, timeout_s: float) -> Probe:
        return FakeConsumer(env, slow_s=0.01)

    return RehearsalSession(
        _plan(tmp_path, idle_limit_s), env, SystemClock(), operator, probe, seed=lambda url: None
    )


def _saved(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    data: dict = json.loads((tmp_path / "out" / "rehearsal.json").read_text())  # type: ignore[type-arg]
    return data


def test_an_idle_operator_ends_it_interrupted_with_the_fault_undone(tmp_path: Path) -> None:
    env = LoopbackEnvironment()
    session = _session(tmp_path, env, ScriptedOperator(idle=True), idle_limit_s=0.6)
    with pytest.raises(OperatorIdle):
        session.run()
    assert not env.down_now and env.downed  # MemoryKernel started again, then the environment down
    saved = _saved(tmp_path)
    assert saved["verdict"] == "interrupted" and saved["interrupted_by"] == "idle limit"
    assert saved["reason"].startswith("no key pressed for 0.6 s (the idle limit)")
    assert saved["reason"].endswith("faults undone, environment stopped")
    (fault,) = saved["root_cause"]["faults"]
    assert fault["kind"] == "stop" and fault["removed_by"] == "cleanup"
    assert saved["finished_at"] is not None
    assert saved["measures"]["first_fallback_s"] is not None  # the incident had shown
    assert (tmp_path / "out" / "summary.md").read_text().count("interrupted") >= 1


def test_quit_and_a_signal_end_it_interrupted_each_saying_by_what(tmp_path: Path) -> None:
    env = LoopbackEnvironment()
    operator = ScriptedOperator([(0.3, Diagnose("MemoryKernel stopped")), (0.5, Quit())])
    with pytest.raises(OperatorQuit):
        _session(tmp_path, env, operator).run()
    saved = _saved(tmp_path)
    assert (
        saved["interrupted_by"] == "quit"
        and saved["diagnoses"][0]["text"] == "MemoryKernel stopped"
    )
    assert not env.down_now

    class Signalled(ScriptedOperator):
        def commands(self, state: RehearsalState, now: float, faults_all_in: bool) -> list[Command]:
            if state.rel(now) > 0.3:
                raise Interrupted("interrupted by SIGHUP; cleaning up run test-rehearsal")
            return super().commands(state, now, faults_all_in)

    env = LoopbackEnvironment()
    with pytest.raises(Interrupted):
        _session(tmp_path, env, Signalled()).run()
    saved = _saved(tmp_path)
    assert saved["interrupted_by"] == "SIGHUP"
    assert saved["reason"] == "interrupted by SIGHUP; faults undone, environment stopped"
    assert not env.down_now and env.downed


def test_a_record_is_written_before_anything_starts(tmp_path: Path) -> None:
    class Broken(LoopbackEnvironment):
        def up(self, release: str, consumer: ConsumerSettings) -> Endpoints:
            saved = _saved(tmp_path)  # what a session killed here would leave
            assert saved["verdict"] == "interrupted" and saved["reason"].startswith("in progress")
            assert saved["finished_at"] is None
            raise Interrupted("interrupted by SIGINT; cleaning up run test-rehearsal")

    with pytest.raises(Interrupted):
        _session(tmp_path, Broken(), ScriptedOperator()).run()
    assert _saved(tmp_path)["finished_at"] is not None


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, float]]:
    log: list[tuple[str, str, float]] = []

    def inject(fault: Fault, ctx: FaultContext):  # type: ignore[no-untyped-def]
        log.append(("in", describe_fault(fault), time.monotonic()))
        return lambda: log.append(("out", describe_fault(fault), time.monotonic()))

    monkeypatch.setattr(incident_module, "inject", inject)
    return log


SCHEDULE = SCENARIO_TEXT.replace(
    "  - {at_s: 0, fault: {kind: stop}}\n",
    "  - {at_s: 0, fault: {kind: stop}}\n"
    "  - {at_s: 0, for_s: 0.3, fault: {kind: proxy_down}}\n"
    "  - {at_s: 0.3, fault: {kind: network_cut}}\n"
    "  - {at_s: 60, fault: {kind: pause}}\n",
)


def test_faults_go_in_at_once_or_one_after_another_and_the_fix_undoes_them_newest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = _recording(monkeypatch)
    changes: list[FaultChange] = []
    env = LoopbackEnvironment()
    incident = Incident(scenario(SCHEDULE).incident, _ctx(env), SystemClock(), changes.append)
    origin = time.monotonic()
    incident.start(origin)
    assert [(way, what) for way, what, _ in log] == [
        ("in", "stop"),
        ("in", "proxy_down"),
    ]  # at once
    assert not incident.all_due_injected
    deadline = time.monotonic() + 5
    while len(log) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(way, what) for way, what, _ in log[2:]] == [
        ("out", "proxy_down"),
        ("in", "network_cut"),
    ]
    assert log[2][2] - origin >= 0.3 and log[3][2] - origin >= 0.3
    assert incident.active == [0, 2]
    assert incident.stop("fix") == [
        "network_cut",
        "stop",
    ]  # newest first; pause (at 60 s) cancelled
    assert [(way, what) for way, what, _ in log[4:]] == [("out", "network_cut"), ("out", "stop")]
    assert incident.all_due_injected and incident.stop("cleanup") == []  # idempotent
    assert [(c.index, c.removed_by) for c in changes] == [
        (0, None), (1, None), (1, "schedule"), (2, None), (2, "fix"), (0, "fix"),
    ]  # fmt: skip


def test_a_fault_that_cannot_be_injected_is_an_environment_error_recorded_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.errors import InjectionError

    def inject(fault: Fault, ctx: FaultContext):  # type: ignore[no-untyped-def]
        raise InjectionError("toxiproxy API http://127.0.0.1:1: refused; is it running?")

    monkeypatch.setattr(incident_module, "inject", inject)
    env = LoopbackEnvironment()
    with pytest.raises(InjectionError) as caught:
        _session(tmp_path, env, ScriptedOperator()).run()
    assert caught.value.exit_code == 3 and env.downed
    saved = _saved(tmp_path)
    assert saved["verdict"] == "error"
    assert (
        saved["reason"]
        == "InjectionError: toxiproxy API http://127.0.0.1:1: refused; is it running?"
    )
