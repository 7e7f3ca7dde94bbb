"""One rehearsal, start to end: environment, steady Drafts, the incident, the operator's loop, cleanup.

Everything started is undone by one ExitStack, in reverse: the incident's faults, the health
watch, the Draft probe, the environment, the consumer's trio folder. SIGINT/SIGTERM/SIGHUP (a
closed terminal), the idle limit and `quit` raise `Interrupted` in the loop; the cleanup runs and
the record is written marked interrupted. The record is written before anything starts too, so
a session killed outright leaves a summary that says it never finished.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runner import __version__
from runner.backends.base import ConsumerSettings, Environment
from runner.clock import Clock
from runner.consumers.control import ReferenceControl
from runner.drill_run import (
    STEADY_RATE_HZ,
    consumer_settings_for,
    to_samples,
)
from runner.engine import Releases, candidate_for, host_facts, pin_info
from runner.errors import DrillError, EnvironmentProblem, Interrupted
from runner.evaluate import enriched_streak
from runner.faults.catalog import FaultContext
from runner.faults.toxiproxy import ToxiproxyControl
from runner.pins import load_manifest
from runner.probes.draft import HttpDraftProbe, Probe
from runner.probes.sampler import Sampler
from runner.probes.seed import seed_policy
from runner.record import Phase, Verdict
from runner.rehearsal.commands import (
    HELP,
    Abandon,
    Command,
    Diagnose,
    Help,
    Note,
    Perform,
    Prevent,
    Quit,
    Verify,
)
from runner.rehearsal.health import HealthWatch
from runner.rehearsal.incident import FaultChange, Incident, fault_progress
from runner.rehearsal.operators import Operator
from runner.rehearsal.plan import RehearsalPlan
from runner.rehearsal.record import RehearsalRecord, RootCause
from runner.rehearsal.report import SUMMARY_MD, write_rehearsal_reports
from runner.rehearsal.scenario import FIX_STEPS, StepKind, describe_incident
from runner.rehearsal.state import RehearsalState
from runner.rehearsal.steps import StepActions, StepOutcome, verify_summary
from runner.trio import ConsumerPinFolder, PinTrio

log = logging.getLogger(__name__)

STEADY_NEEDED = 5
STEADY_DEADLINE_S = 20.0
TICK_S = 0.1
IN_PROGRESS = "in progress: if this stays, the session ended without cleaning up (killed)"


class OperatorIdle(Interrupted):
    """Nobody typed anything for the scenario's idle limit."""


class OperatorQuit(Interrupted):
    """The operator ended the rehearsal before the checklist was done."""


@dataclass(frozen=True)
class _StepDone:
    number: int
    performed: bool  # False: the verification's outcome
    outcome: StepOutcome
    at: float


class RehearsalSession:
    """Runs a plan against an environment with an operator; `run` returns the final record."""

    def __init__(
        self,
        plan: RehearsalPlan,
        env: Environment,
        clock: Clock,
        operator: Operator,
        probe_factory: Callable[[str, float], Probe] = HttpDraftProbe,
        seed: Callable[[str], None] = seed_policy,
    ) -> None:
        self.plan = plan
        self._probe_factory = probe_factory
        self._seed = seed
        self.env = env
        self.clock = clock
        self.operator = operator
        self.state = RehearsalState(
            plan.scenario,
            clock.now(),
            clock.utc_iso,
            fault_progress(plan.scenario.incident),
            known_error_codes=_known_codes(plan.consumer_trio),
        )
        self._outbox: queue.Queue[FaultChange | _StepDone | BaseException] = queue.Queue()
        self._started_at = clock.utc_iso()
        self._samples_seen = 0
        self._actions: StepActions | None = None
        self._sampler: Sampler | None = None
        self._toxiproxy = "unknown"
        self.record: RehearsalRecord | None = None

    # The run -----------------------------------------------------------------------------------

    def run(self) -> RehearsalRecord:
        """Rehearse; the record is written at the start, when the summary publishes, and at the end."""
        self._write(Verdict.INTERRUPTED, IN_PROGRESS, finished=False)
        failure: DrillError | None = None
        try:
            with contextlib.ExitStack() as cleanup:
                self._rehearse(cleanup)
        except Interrupted as exc:
            self.state.end(
                self.clock.now(), _interruption(exc), interrupted_by=_interrupted_by(exc)
            )
            failure = exc
        except DrillError as exc:  # the environment broke (or its cleanup did): exit 3
            self.state.end(self.clock.now(), f"{type(exc).__name__}: {exc}")
            failure = exc
        finally:
            self._drain(during_cleanup=True)  # the cleanup's fault removals
        verdict, reason = self.state.verdict()
        if failure is not None and not isinstance(failure, Interrupted):
            verdict, reason = Verdict.ERROR, f"{type(failure).__name__}: {failure}"
        record = self._write(verdict, reason, finished=True)
        if failure is not None:
            raise failure
        return record

    def _rehearse(self, cleanup: contextlib.ExitStack) -> None:
        plan, env, clock = self.plan, self.env, self.clock
        folder = ConsumerPinFolder(Path(tempfile.mkdtemp(prefix="mkdrill-rehearsal-trio-")))
        cleanup.callback(shutil.rmtree, folder.root, True)
        deployed = folder.install(plan.consumer_trio)
        consumer = consumer_settings_for(
            ConsumerSettings(pin=deployed.pin),
            None if plan.timeout_from_pin else plan.timeout_ms,
        )
        cleanup.callback(env.down)
        endpoints = env.up(plan.consumer_pin.release_tag, consumer)
        self._toxiproxy = env.toxiproxy_kind
        self._seed(endpoints.memorykernel_url)
        draft_url = f"{endpoints.consumer_url}/v1/draft"
        probe = self._probe_factory(draft_url, plan.latency_bound_ms / 1000 + 2.0)
        cleanup.callback(probe.close)
        sampler = self._sampler = Sampler(probe, clock, STEADY_RATE_HZ)
        cleanup.callback(sampler.stop, plan.latency_bound_ms / 1000 + 2.0)
        releases = Releases(baseline=plan.consumer_pin, candidate=candidate_for(plan.consumer_pin))
        ctx = FaultContext(
            env=env,
            endpoints=endpoints,
            toxiproxy=ToxiproxyControl(endpoints.toxiproxy_url),
            clock=clock,
            baseline=plan.consumer_pin,
            consumer=consumer,
            resolve_release=releases.resolve,
            pin_for_release=releases.pin_for,
            probe_paused=sampler.paused,
            rollback_target=plan.target,
            target=ReferenceControl(env),
        )
        sampler.phase = Phase.STEADY
        sampler.start()
        health = HealthWatch(endpoints.memorykernel_url)
        health.start()
        cleanup.callback(health.stop)
        self._await_steady(sampler)
        incident = Incident(plan.scenario.incident, ctx, clock, self._outbox.put)
        cleanup.callback(incident.stop, "cleanup")  # pushed before anything is injected
        contract_probe = self._probe_factory(draft_url, plan.latency_bound_ms / 1000 + 2.0)
        cleanup.callback(contract_probe.close)
        self._actions = StepActions(
            ctx, incident, folder, plan.target, sampler, clock, self.state.rel, contract_probe.draft
        )
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rehearsal-step")
        cleanup.callback(worker.shutdown, wait=True, cancel_futures=True)
        self._worker = worker
        now = clock.now()
        self.state.start_incident(now)
        sampler.phase = Phase.OBSERVE
        sampler.set_rate(plan.scenario.surge_rate_hz or plan.rate_hz)
        incident.start(now)
        self._write(Verdict.INTERRUPTED, IN_PROGRESS, finished=False)
        self._loop(incident, health)

    def _await_steady(self, sampler: Sampler) -> None:
        deadline = self.clock.now() + STEADY_DEADLINE_S
        while self.clock.now() < deadline:
            samples = sampler.samples()
            if (
                enriched_streak([(s.started, s.outcome.ok and s.outcome.applied) for s in samples])
                >= STEADY_NEEDED
            ):
                return
            sampler.wait_for_sample(0.1)
        seen = {s.outcome.fallback_reason or s.outcome.error for s in sampler.samples()}
        raise EnvironmentProblem(
            f"the Draft flow never became enriched before the incident ({STEADY_DEADLINE_S:g} s; "
            f"seen: {', '.join(sorted(str(x) for x in seen)) or 'nothing'}); the rehearsal needs a healthy start"
        )

    def _loop(self, incident: Incident, health: HealthWatch) -> None:
        state, clock, plan = self.state, self.clock, self.plan
        while True:
            self._drain()
            self._ingest()
            state.observe_health(health.latest)
            if state.checklist_done:
                state.end(clock.now(), "checklist done")
            if state.ended:
                break
            now = clock.now()
            for command in self.operator.commands(state, now, incident.all_due_injected):
                self._apply(command, clock.now())
            idle = self.operator.idle_since()
            if idle is not None and clock.now() - idle > plan.idle_limit_s:
                raise OperatorIdle(
                    f"no key pressed for {plan.idle_limit_s:g} s (the idle limit): the operator walked away"
                )
            self.operator.show(state, clock.now(), self._pin_label())
        self.operator.show(state, clock.now(), self._pin_label())

    def _ingest(self) -> None:
        if self._sampler is None:
            return
        samples = self._sampler.samples()
        self.state.ingest(samples[self._samples_seen :])
        self._samples_seen = len(samples)

    def _drain(self, during_cleanup: bool = False) -> None:
        """Apply what the incident and the step worker reported; their errors are raised (logged
        only during the cleanup, which is already ending the rehearsal)."""
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                return
            error: BaseException | None = None
            if isinstance(item, BaseException):
                error = item
            elif isinstance(item, FaultChange):
                error = item.error
            if error is not None:
                if not during_cleanup:
                    raise error
                log.warning("while the rehearsal ended: %s", error)
                continue
            if isinstance(item, FaultChange):
                if item.removed_by is None:
                    self.state.fault_injected(item.index, item.at)
                else:
                    self.state.fault_removed(item.index, item.at, item.removed_by)
            elif isinstance(item, _StepDone):
                self._step_done(item)

    def _step_done(self, done: _StepDone) -> None:
        state = self.state
        if done.outcome.contract_run is not None:
            state.contract_ran(done.outcome.contract_run)
        if done.performed:
            state.step_performed(done.number, done.outcome.ok, done.outcome.detail, done.at)
        else:
            state.step_verified(done.number, done.outcome.ok, done.outcome.detail, done.at)
        if (
            self._sampler is not None
            and done.performed
            and state.step(done.number).kind in FIX_STEPS
        ):
            self._sampler.set_rate(self.plan.rate_hz)  # the surge is over with the fix
        if not done.performed or not done.outcome.ok:
            self._write(Verdict.INTERRUPTED, IN_PROGRESS, finished=False)

    # Commands ----------------------------------------------------------------------------------

    def _apply(self, command: Command, now: float) -> None:
        state = self.state
        match command:
            case Diagnose(text=text):
                state.diagnose(text, now)
            case Note(text=text):
                state.note(text, now)
            case Prevent(text=text):
                state.prevent(text, now)
            case Perform(number=number) | Verify(number=number):
                self._step(number, isinstance(command, Perform), now)
            case Help():
                state.message = HELP
            case Quit():
                raise OperatorQuit("ended by the operator (quit) before the checklist was done")
            case Abandon(reason=reason):
                state.abandon(reason, now)

    def _step(self, number: int, perform: bool, now: float) -> None:
        state = self.state
        refused = state.request_step(number, now, perform)
        if refused:
            state.message = refused
            return
        kind = state.step(number).kind
        if perform and kind in FIX_STEPS and self._sampler is not None:
            self._sampler.phase = Phase.RECOVER
        if kind is StepKind.SUMMARY:
            if perform:
                self._outbox.put(_StepDone(number, True, self._publish(), self.clock.now()))
            self._outbox.put(_StepDone(number, False, self._verify_summary(), self.clock.now()))
            return
        self._worker.submit(self._run_step, number, kind, perform)

    def _run_step(self, number: int, kind: StepKind, perform: bool) -> None:
        actions = self._actions
        assert actions is not None
        try:
            if perform:
                outcome = actions.perform(kind)
                self._outbox.put(_StepDone(number, True, outcome, self.clock.now()))
                if not outcome.ok:
                    return
            self._outbox.put(_StepDone(number, False, actions.verify(kind), self.clock.now()))
        except BaseException as exc:  # a bug, not a finding: the loop re-raises it
            self._outbox.put(exc)

    def _publish(self) -> StepOutcome:
        self._write(Verdict.INTERRUPTED, IN_PROGRESS, finished=False)
        return StepOutcome(True, f"incident summary published to {self.plan.out_dir / SUMMARY_MD}")

    def _verify_summary(self) -> StepOutcome:
        state = self.state
        return verify_summary(
            self.plan.out_dir / SUMMARY_MD,
            describe_incident(self.plan.scenario),
            [d.text for d in state.diagnoses],
            [p.text for p in state.prevention],
        )

    # Record ------------------------------------------------------------------------------------

    def _pin_label(self) -> str:
        pin = self._actions.pin if self._actions is not None else self.plan.consumer_pin
        return f"{pin.release_tag} ({pin.expected_service_contract_version})"

    def _write(self, verdict: Verdict, reason: str, finished: bool) -> RehearsalRecord:
        record = self._record(verdict, reason, finished)
        self.record = record
        write_rehearsal_reports(record, self.plan.out_dir)
        return record

    def _record(self, verdict: Verdict, reason: str, finished: bool) -> RehearsalRecord:
        plan, state = self.plan, self.state
        samples = (
            to_samples(self._sampler.samples(), state.origin)
            if self._sampler is not None and state.started
            else []
        )
        scenario = plan.scenario
        return RehearsalRecord(
            rehearsal_id=plan.rehearsal_id,
            tool_version=__version__,
            started_at=self._started_at,
            finished_at=self.clock.utc_iso() if finished else None,
            host=host_facts(),
            scenario=scenario.name,
            scenario_description=scenario.description,
            scenario_file=str(plan.scenario_file),
            mode=plan.mode,
            blind=plan.blind,
            backend=plan.backend,
            toxiproxy=self._toxiproxy,
            pin=pin_info(plan.consumer_pin, plan.consumer_trio),
            rollback_target=plan.target.trio.describe() if plan.target is not None else None,
            settings={**plan.settings, "latency_bound_ms": f"{plan.latency_bound_ms:g}"},
            verdict=verdict,
            reason=reason,
            interrupted_by=state.interrupted_by,
            root_cause=RootCause(
                description=describe_incident(scenario),
                faults=state.fault_results(),
                expected_fallback_reasons=[r.value for r in scenario.expect.fallback_reasons],
                expected_machine_error_codes=scenario.expect.machine_error_codes,
            ),
            diagnoses=list(state.diagnoses),
            prevention_actions=list(state.prevention),
            notes=list(state.notes),
            measures=state.measures(),
            checklist=state.step_results(),
            contract_runs=list(state.contract_runs),
            events=state.event_results(),
            samples=samples,
        )


def _known_codes(trio: PinTrio) -> list[str]:
    try:
        return list(load_manifest(trio.manifest_path).error_code_enum)
    except DrillError:
        return []


def _interrupted_by(exc: Interrupted) -> str:
    if isinstance(exc, OperatorIdle):
        return "idle limit"
    if isinstance(exc, OperatorQuit):
        return "quit"
    text = str(exc)
    return next((name for name in ("SIGINT", "SIGTERM", "SIGHUP") if name in text), "signal")


def _interruption(exc: Interrupted) -> str:
    cause = _interrupted_by(exc)
    said = str(exc) if isinstance(exc, OperatorIdle | OperatorQuit) else f"interrupted by {cause}"
    return f"{said}; faults undone, environment stopped"
