"""The run loop: resolve pins, bring the environment up once, run each drill, always clean up and report."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from runner import __version__
from runner.backends.base import AskBody, ConsumerSettings, Endpoints, Environment
from runner.clock import Clock
from runner.consumers.checks import (
    check_calls_through_proxy,
    check_fast_enough,
    pin_from_preflight,
)
from runner.consumers.control import ConsumerControl, OwnConsumer, ReferenceControl
from runner.consumers.defects import ConsumerDefect
from runner.consumers.info import consumer_info
from runner.consumers.target import ConsumerTarget, not_applicable_reason
from runner.contract import RELEASES, TIMEOUT_MS_MAX, TIMEOUT_MS_MIN
from runner.drill_run import DrillRun, DrillSettings, consumer_settings_for
from runner.errors import DefinitionError, DrillError, Interrupted
from runner.faults.catalog import FaultContext
from runner.faults.toxiproxy import ToxiproxyControl
from runner.loader import LoadedDrill
from runner.path_guard import PathGuard
from runner.pins import Pin, default_pin_path, load_pin
from runner.probes.capacity import CapacityPlan, measure_capacity
from runner.probes.draft import DraftOutcome, HttpDraftProbe, Probe, RecordingProbe
from runner.probes.loadgen import LoadTarget
from runner.record import ConsumerInfo, DrillResult, Phase, PinInfo, RunRecord, Verdict
from runner.spec import Drill, retime
from runner.trio import PinTrio, RollbackTarget

log = logging.getLogger(__name__)

DrillRunner = Callable[[LoadedDrill], DrillResult]
"""Runs one drill of the plan in the environment that is up; given to a driver (the pytest plugin)."""
Driver = Callable[[DrillRunner], None]
"""Decides which plan drills run and when (e.g. pytest items); the engine keeps environment and record."""
NOT_RUN = "not run: the driver stopped before it (e.g. pytest -x)"


class RunListener(Protocol):
    """Receives the engine's events: the progress display and the report writer listen."""

    def run_started(self, record: RunRecord) -> None: ...

    def environment_ready(self, endpoints: Endpoints, toxiproxy_kind: str) -> None: ...

    def consumer_measured(self, consumer: ConsumerInfo) -> None: ...

    def drill_started(self, name: str, index: int, total: int) -> None: ...

    def phase_changed(self, drill: str, phase: Phase) -> None: ...

    def drill_finished(self, result: DrillResult, record: RunRecord) -> None: ...

    def run_finished(self, record: RunRecord) -> None: ...


@dataclass(frozen=True)
class Releases:
    """The baseline (last green pin) and the candidate (the other contract) for this run."""

    baseline: Pin
    candidate: str
    pins: dict[str, Pin] = field(default_factory=dict)

    def resolve(self, ref: str) -> str:
        """`baseline`, `candidate` or a tag → a release tag."""
        if ref == "baseline":
            return self.baseline.release_tag
        if ref == "candidate":
            return self.candidate
        return ref

    def pin_for(self, tag: str) -> Pin:
        """The pin the consumer would carry for `tag` (embedded pins for the reference releases)."""
        if tag == self.baseline.release_tag:
            return self.baseline
        if tag not in self.pins:
            try:
                self.pins[tag] = load_pin(default_pin_path(tag))
            except DrillError as exc:
                raise DefinitionError(f"no pin for release {tag}: {exc}") from exc
        return self.pins[tag]


def candidate_for(pin: Pin) -> str:
    """The known release whose service contract differs from the pin's: the version-mismatch candidate."""
    for tag, release in sorted(RELEASES.items(), reverse=True):
        if release.service_contract_version != pin.expected_service_contract_version:
            return tag
    return pin.release_tag


@dataclass(frozen=True)
class RunPlan:
    """Everything decided before anything starts."""

    run_id: str
    drills: Sequence[LoadedDrill]
    consumer_pin: Pin
    releases: Releases
    backend: str
    suite: str | None
    out_dir: Path
    drill_settings: DrillSettings
    ask_body: AskBody = "patched"
    consumer_defect: ConsumerDefect = ConsumerDefect.NONE  # the reference consumer's (mutants)
    fail_fast: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    drills_named: bool = (
        False  # drills picked by name: a partial run, it never decides a pin's state
    )
    consumer_trio: PinTrio | None = None  # the consumer pin's matrix and manifest, when found
    rollback_target: RollbackTarget | None = None  # for `recover: {to: last-green}` drills
    under_test: ConsumerTarget = field(default_factory=ConsumerTarget)
    # The pin the consumer under test carries (yours: --consumer-pin; None: learn it from its
    # preflight answer, else assume consumer_pin), and where that came from.
    own_pin: Pin | None = None
    own_pin_from: str = "--pin"
    proxy_listen: str | None = None  # None: a free port

    def not_applicable(self, drill: Drill) -> str | None:
        """Why `drill` cannot be applied to the consumer under test, or None."""
        target = self.rollback_target
        repins = target is not None and target.crosses_contract(self.own_pin or self.consumer_pin)
        return not_applicable_reason(drill, self.under_test, repins)


def pin_info(pin: Pin, trio: PinTrio | None = None) -> PinInfo:
    """Report form of a pin (and of its trio's other two files, when known)."""
    return PinInfo(
        source=str(pin.source),
        release_tag=pin.release_tag,
        commit_sha=pin.commit_sha,
        expected_service_contract_version=pin.expected_service_contract_version,
        expected_api_contract_version=pin.expected_api_contract_version,
        expected_producer_manifest_sha256=pin.expected_producer_manifest_sha256,
        pin_file_sha256=pin.raw_sha256,
        manifest_source=str(trio.manifest_path) if trio else None,
        manifest_file_sha256=trio.digests.manifest_sha256 if trio else None,
        matrix_source=str(trio.matrix_path) if trio else None,
        matrix_sha256=trio.digests.matrix_sha256 if trio else None,
    )


def host_facts() -> dict[str, str]:
    """Where a run (or rehearsal) ran, for its record."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pid": str(os.getpid()),
    }


def partial_run(plan: RunPlan, results: Sequence[DrillResult]) -> str | None:
    """Why a run is partial (never decides its pin's state), or None for a whole suite."""
    if plan.drills_named:
        names = ", ".join(d.drill.name for d in plan.drills[:5])
        return f"drills named on the command line ({names}{', …' if len(plan.drills) > 5 else ''})"
    for result in results:
        if result.verdict is Verdict.SKIPPED and result.reason.startswith("--fail-fast"):
            return f"{result.reason}: the rest was not run"
        if result.verdict is Verdict.SKIPPED and result.reason == NOT_RUN:
            return "not every drill of the suite ran"
    if len(results) < len(plan.drills):
        return "not every drill of the suite ran"
    absent = [r.name for r in results if r.verdict is Verdict.NOT_APPLICABLE]
    if absent:
        return f"not applicable to the consumer under test: {', '.join(absent)}"
    return None


class Engine:
    """Runs a plan against an environment, emitting events; never leaves the environment up."""

    def __init__(
        self,
        plan: RunPlan,
        env: Environment,
        clock: Clock,
        listener: RunListener,
        seed: Callable[[str], None] | None = None,
        capacity_plan: CapacityPlan = CapacityPlan(),
        probe_factory: Callable[[Endpoints, float], Probe] | None = None,
        watch_preflight: bool = True,
    ) -> None:
        """`probe_factory` and `watch_preflight`: how the reference consumer is probed (fakes in
        tests); a consumer of yours is always probed as the plan names it."""
        self.plan = plan
        self.env = env
        self.clock = clock
        self.listener = listener
        self._seed = seed
        self._capacity_plan = capacity_plan
        self._reference_probe = probe_factory or (
            lambda endpoints, timeout: HttpDraftProbe(f"{endpoints.consumer_url}/v1/draft", timeout)
        )
        self._watch_preflight = watch_preflight and plan.under_test.is_reference
        self._results: list[DrillResult] = []
        self._started_at = clock.utc_iso()
        self.last_record: RunRecord | None = None
        self._settings = plan.drill_settings
        self._consumer_pin = plan.own_pin or plan.consumer_pin
        self._consumer_info = self._describe_consumer("?", plan.own_pin_from)
        self._under_test: Callable[[float], Probe] | None = None  # set once the consumer is up
        self._ctx: FaultContext | None = None  # set once the environment is up
        self._load_target: LoadTarget | None = None

    def _record(self, verdict: Verdict, reason: str, finished: bool) -> RunRecord:
        plan = self.plan
        return RunRecord(
            run_id=plan.run_id,
            tool_version=__version__,
            started_at=self._started_at,
            finished_at=self.clock.utc_iso() if finished else None,
            host=host_facts(),
            backend=plan.backend,
            toxiproxy=self._toxiproxy_kind(),
            suite=plan.suite,
            verdict=verdict,
            reason=reason,
            pin=pin_info(plan.consumer_pin, plan.consumer_trio),
            releases={
                "baseline": plan.releases.baseline.release_tag,
                "candidate": plan.releases.candidate,
            },
            settings={**plan.settings, **self._reference_settings()},
            images=self.env.images(),
            memorykernel=self.env.memorykernel_identities(),
            partial=partial_run(plan, self._results),
            consumer=self._consumer_info,
            drills=list(self._results),
        )

    def _reference_settings(self) -> dict[str, str]:
        """Ask body and defect: the reference consumer's; yours has its own (consumer block)."""
        if not self.plan.under_test.is_reference:
            return {}
        return {"ask_body": self.plan.ask_body, "consumer_defect": self.plan.consumer_defect.value}

    def _describe_consumer(self, proxy: str, pin_from: str) -> ConsumerInfo:
        plan = self.plan
        return consumer_info(
            plan.under_test,
            self._consumer_pin,
            pin_from,
            plan.drill_settings.consumer_timeout_ms,
            not plan.drill_settings.consumer_timeout_from_pin,
            plan.ask_body,
            plan.consumer_defect.value,
            proxy,
        )

    def _toxiproxy_kind(self) -> str:
        try:
            return self.env.toxiproxy_kind
        except Exception:  # not up yet
            return "unknown"

    def run(self, drive: Driver | None = None) -> RunRecord:
        """Bring the environment up, run every drill, tear down; the record says what happened.

        With `drive`, the driver is handed a runner for single drills instead: it runs those it
        chooses in its own order inside the one environment; plan drills it did not run are
        recorded as skipped.
        """
        plan = self.plan
        self.listener.run_started(
            self._record(Verdict.INTERRUPTED, "run in progress", finished=False)
        )
        verdict, reason = Verdict.INTERRUPTED, "run did not finish"
        consumer = consumer_settings_for(
            ConsumerSettings(
                pin=self._consumer_pin, ask_body=plan.ask_body, defect=plan.consumer_defect
            ),
            None
            if plan.drill_settings.consumer_timeout_from_pin
            else plan.drill_settings.consumer_timeout_ms,
        )
        try:
            with contextlib.ExitStack() as cleanup:
                cleanup.callback(self.env.down)
                reference = plan.under_test.is_reference
                endpoints = self.env.up(
                    plan.releases.baseline.release_tag, consumer if reference else None
                )
                self._consumer_info = self._describe_consumer(
                    endpoints.proxy_listen, plan.own_pin_from
                )
                control, under_test = self._attach_consumer(consumer, endpoints)
                self.listener.environment_ready(endpoints, self.env.toxiproxy_kind)
                if self._seed is not None:
                    self._seed(endpoints.memorykernel_url)
                consumer = self._measure_consumer(under_test, consumer, endpoints)
                ctx = FaultContext(
                    env=self.env,
                    endpoints=endpoints,
                    toxiproxy=ToxiproxyControl(endpoints.toxiproxy_url),
                    clock=self.clock,
                    baseline=plan.releases.baseline,
                    consumer=consumer,
                    resolve_release=plan.releases.resolve,
                    pin_for_release=plan.releases.pin_for,
                    rollback_target=plan.rollback_target,
                    target=control,
                )
                self._under_test = under_test
                self._ctx = ctx
                if drive is None:
                    verdict, reason = self._run_drills(ctx, endpoints)
                else:
                    verdict, reason = self._run_driven(ctx, endpoints, drive)
        except Interrupted:
            verdict, reason = Verdict.INTERRUPTED, "interrupted by signal; cleanup ran"
            self._record_final(verdict, reason)
            raise
        except DrillError as exc:
            verdict, reason = Verdict.ERROR, str(exc)
            self._record_final(verdict, reason)
            raise
        return self._record_final(verdict, reason)

    def _record_final(self, verdict: Verdict, reason: str) -> RunRecord:
        record = self._record(verdict, reason, finished=True)
        self.last_record = record
        self.listener.run_finished(record)
        return record

    def _attach_consumer(
        self, consumer: ConsumerSettings, endpoints: Endpoints
    ) -> tuple[ConsumerControl, Callable[[float], Probe]]:
        """The control of the consumer under test and its probe; yours is pointed at the proxy."""
        target = self.plan.under_test
        if target.is_reference:
            self._load_target = LoadTarget(url=f"{endpoints.consumer_url}/v1/draft")
            reference = ReferenceControl(self.env, endpoints.consumer_url)
            reference.confirm(consumer.defect)
            return reference, lambda timeout: self._reference_probe(endpoints, timeout)
        own = OwnConsumer(target, consumer)
        own.attach(endpoints.proxy_listen)
        self._load_target = own.load_target()
        return own, own.probe

    def _measure_consumer(
        self, probe: Callable[[float], Probe], consumer: ConsumerSettings, endpoints: Endpoints
    ) -> ConsumerSettings:
        """Measure the consumer's capacity (MemoryKernel healthy); check it can be drilled at all."""
        plan = self.plan
        timeout_s = 3 * plan.drill_settings.consumer_timeout_ms / 1000 + 2.0
        outcomes: list[DraftOutcome] = []

        def recording_probe() -> Probe:
            return RecordingProbe(probe(timeout_s), outcomes)

        capacity = measure_capacity(recording_probe, self.clock, self._capacity_plan)
        self._settings = replace(plan.drill_settings, capacity=capacity)
        if not plan.under_test.is_reference:
            check_calls_through_proxy(plan.under_test, outcomes, endpoints.proxy_listen)
        pin_from = plan.own_pin_from
        said = next((o.consumer_pin for o in outcomes if o.consumer_pin), None)
        if plan.own_pin is None and not plan.under_test.is_reference and said:
            learned = pin_from_preflight(said)
            if learned is not None:
                consumer = replace(consumer, pin=learned)
                self._consumer_pin, pin_from = learned, "its preflight answer"
                self._retime_for(learned)
        plan = self.plan
        pace = {
            phase.value: self._settings.pace(
                phase, 3 * plan.drill_settings.consumer_timeout_ms
            ).describe()
            for phase in (Phase.STEADY, Phase.OBSERVE, Phase.RECOVER, Phase.VERIFY)
        }
        info = self._describe_consumer(endpoints.proxy_listen, pin_from)
        self._consumer_info = info.model_copy(update={"capacity": capacity, "pace": pace})
        self.listener.consumer_measured(self._consumer_info)
        check_fast_enough(plan, self._settings, self._consumer_info, outcomes)
        return consumer

    def _retime_for(self, pin: Pin) -> None:
        """Drills and latency bounds for the timeout of the pin your consumer says it carries.

        Only when mkdrill sets no timeout: the consumer then runs with its pin's default_timeout_ms,
        which the plan could only assume from --pin.
        """
        plan = self.plan
        timeout = pin.default_timeout_ms
        if not plan.drill_settings.consumer_timeout_from_pin:
            return
        if timeout == plan.drill_settings.consumer_timeout_ms:
            return
        if not TIMEOUT_MS_MIN <= timeout <= TIMEOUT_MS_MAX:
            raise DefinitionError(
                f"{plan.under_test.describe()} carries {pin.release_tag}, whose default_timeout_ms "
                f"{timeout} ms is outside the {TIMEOUT_MS_MIN}..{TIMEOUT_MS_MAX} ms the drill "
                "catalog is written for; give --consumer-timeout-ms"
            )
        drills = [
            LoadedDrill(retime(d.drill, d.relative, d.drill.consumer.timeout_ms or timeout),
                        d.path, relative=d.relative)
            for d in plan.drills
        ]  # fmt: skip
        self.plan = replace(
            plan,
            drills=drills,
            drill_settings=replace(plan.drill_settings, consumer_timeout_ms=timeout),
            settings={**plan.settings, "consumer_timeout_ms": str(timeout),
                      "consumer_timeout_source": "the pin its preflight answer names"},
        )  # fmt: skip
        self._settings = replace(self._settings, consumer_timeout_ms=timeout)

    def _run_drills(self, ctx: FaultContext, endpoints: Endpoints) -> tuple[Verdict, str]:
        plan = self.plan
        total = len(plan.drills)
        stop_reason = ""
        for index, loaded in enumerate(plan.drills, start=1):
            if stop_reason and plan.not_applicable(loaded.drill) is None:
                self._results.append(not_run(loaded, stop_reason, self.clock.utc_iso()))
                continue
            result = self._run_one(ctx, endpoints, loaded, index, total)
            if result.verdict is Verdict.ERROR:
                raise EnvironmentFailure(result.reason)
            if plan.fail_fast and result.verdict is Verdict.FAILED:
                stop_reason = f"--fail-fast: {loaded.drill.name} failed"
        return overall(self._results)

    def _run_one(
        self, ctx: FaultContext, endpoints: Endpoints, loaded: LoadedDrill, index: int, total: int
    ) -> DrillResult:
        """Run one drill, or record it not applicable to the consumer under test."""
        plan = self.plan
        self.listener.drill_started(loaded.drill.name, index, total)
        absent = plan.not_applicable(loaded.drill)
        interrupted = False
        if absent is not None:
            result = not_run(loaded, absent, self.clock.utc_iso(), Verdict.NOT_APPLICABLE)
        else:
            assert self._under_test is not None, "the consumer under test is attached in run()"
            drill_run = DrillRun(
                loaded,
                ctx,
                self._under_test,
                self.clock,
                self._settings,
                self.listener.phase_changed,
                watch_preflight=self._watch_preflight,
                load_target=self._load_target,
                target=plan.under_test,
            )
            result = drill_run.run(self.clock.utc_iso())
            interrupted = drill_run.interrupted
            # The next drill starts only on a path proven healthy; what this one left is its own. A
            # drill whose steady state never came injected nothing, so it cannot have left it broken.
            if not interrupted and result.verdict is not Verdict.ERROR and result.fault_window:
                result = PathGuard(ctx, self._under_test, self.clock).after(result)
        self._results.append(result)
        self.listener.drill_finished(
            result, self._record(Verdict.INTERRUPTED, "run in progress", finished=False)
        )
        if interrupted:
            raise Interrupted("interrupted by signal")
        return result

    def switch_defect(self, defect: ConsumerDefect) -> None:
        """Restart the reference consumer with `defect` for the drills a driver runs next.

        For `mkdrill mutants`, between drills of a driven run; a restart a drill makes later (a
        pin swap, a path repair) keeps the defect.
        """
        ctx = self._ctx
        if ctx is None:
            raise RuntimeError("switch_defect is for a driver, while the environment is up")
        settings = replace(ctx.consumer, defect=defect)
        ctx.target.restart(settings)
        self._ctx = replace(ctx, consumer=settings)

    def _run_driven(
        self, ctx: FaultContext, endpoints: Endpoints, drive: Driver
    ) -> tuple[Verdict, str]:
        plan = self.plan
        broken: list[str] = []
        # The driver names drills as it loaded them; the plan holds them resolved for the timeout.
        planned = {d.drill.name: d for d in plan.drills}

        def run_drill(loaded: LoadedDrill) -> DrillResult:
            if broken:
                raise EnvironmentFailure(f"not run: the environment broke earlier ({broken[0]})")
            loaded = planned.get(loaded.drill.name, loaded)
            current = self._ctx or ctx  # the driver may have switched the consumer's defect
            result = self._run_one(
                current, endpoints, loaded, len(self._results) + 1, len(plan.drills)
            )
            if result.verdict is Verdict.ERROR:
                broken.append(f"{result.name}: {result.reason}")
            return result

        drive(run_drill)
        ran = {r.name for r in self._results}
        for loaded in plan.drills:
            if loaded.drill.name not in ran:
                self._results.append(not_run(loaded, NOT_RUN, self.clock.utc_iso()))
        if broken:
            raise EnvironmentFailure(broken[0])
        return overall(self._results)


class EnvironmentFailure(DrillError):
    """A drill could not run because the environment broke (exit 3)."""

    exit_code = 3


def overall(results: Sequence[DrillResult]) -> tuple[Verdict, str]:
    """The run's verdict from its drills."""
    failed = [r.name for r in results if r.verdict in (Verdict.FAILED, Verdict.ERROR)]
    absent = [r.name for r in results if r.verdict is Verdict.NOT_APPLICABLE]
    applicable = len(results) - len(absent)
    tail = f"; not applicable: {', '.join(absent)}" if absent else ""
    if failed:
        return (
            Verdict.FAILED,
            f"{len(failed)} of {applicable} applicable drills failed: {', '.join(failed)}{tail}"
            if absent
            else f"{len(failed)} of {len(results)} drills failed: {', '.join(failed)}",
        )
    passed = sum(r.verdict is Verdict.PASSED for r in results)
    skipped = [r.name for r in results if r.verdict is Verdict.SKIPPED]
    reason = (
        f"{passed} of {applicable} applicable drills passed"
        if absent
        else f"{passed} of {len(results)} drills passed"
    )
    if skipped:
        reason += f", {len(skipped)} skipped ({', '.join(skipped)})"
    return Verdict.PASSED, reason + tail


def not_run(
    loaded: LoadedDrill, reason: str, started_at: str, verdict: Verdict = Verdict.SKIPPED
) -> DrillResult:
    """The result of a drill that was not run: skipped, or not applicable to the consumer."""
    drill = loaded.drill
    return DrillResult(
        name=drill.name,
        description=drill.description,
        suites=list(drill.suites),
        file=str(loaded.path),
        verdict=verdict,
        reason=reason,
        started_at=started_at,
        duration_s=0.0,
        fault=drill.fault.model_dump(mode="json"),
        fault_window=None,
        consumer={},
        phases=[],
        probe=[],
        fallback_reasons={},
        latency_bound_ms=0.0,
        assertions=[],
        time_to_restore=None,
        samples=[],
    )
