"""The run loop: resolve pins, bring the environment up once, run each drill, always clean up and report."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from runner import __version__
from runner.backends.base import AskBody, ConsumerSettings, Endpoints, EnrichmentMode, Environment
from runner.clock import Clock
from runner.contract import RELEASES
from runner.drill_run import DrillRun, DrillSettings, consumer_settings_for
from runner.errors import DefinitionError, DrillError, Interrupted
from runner.faults.catalog import FaultContext
from runner.faults.toxiproxy import ToxiproxyControl
from runner.loader import LoadedDrill
from runner.path_guard import PathGuard
from runner.pins import Pin, default_pin_path, load_pin
from runner.probes.draft import HttpDraftProbe, Probe
from runner.record import DrillResult, Phase, PinInfo, RunRecord, Verdict
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
    enrichment: EnrichmentMode = "fallback"
    fail_fast: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    drills_named: bool = (
        False  # drills picked by name: a partial run, it never decides a pin's state
    )
    consumer_trio: PinTrio | None = None  # the consumer pin's matrix and manifest, when found
    rollback_target: RollbackTarget | None = None  # for `recover: {to: last-green}` drills


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
    return None


class Engine:
    """Runs a plan against an environment, emitting events; never leaves the environment up."""

    def __init__(
        self,
        plan: RunPlan,
        env: Environment,
        clock: Clock,
        listener: RunListener,
        probe_factory: Callable[[Endpoints, float], Probe] | None = None,
        seed: Callable[[str], None] | None = None,
        watch_preflight: bool = True,
        load_url: str | None = None,
    ) -> None:
        self.plan = plan
        self.env = env
        self.clock = clock
        self.listener = listener
        self._probe_factory = probe_factory or (
            lambda ep, timeout: HttpDraftProbe(f"{ep.consumer_url}/v1/draft", timeout)
        )
        self._seed = seed
        self._watch_preflight = watch_preflight
        self._load_url = load_url
        self._results: list[DrillResult] = []
        self._started_at = clock.utc_iso()
        self.last_record: RunRecord | None = None

    def _record(self, verdict: Verdict, reason: str, finished: bool) -> RunRecord:
        plan = self.plan
        return RunRecord(
            run_id=plan.run_id,
            tool_version=__version__,
            started_at=self._started_at,
            finished_at=self.clock.utc_iso() if finished else None,
            host={
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "pid": str(os.getpid()),
            },
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
            settings={**plan.settings, "ask_body": plan.ask_body, "enrichment": plan.enrichment},
            images=self.env.images(),
            memorykernel=self.env.memorykernel_identities(),
            partial=partial_run(plan, self._results),
            drills=list(self._results),
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
                pin=plan.consumer_pin, ask_body=plan.ask_body, enrichment=plan.enrichment
            ),
            None
            if plan.drill_settings.consumer_timeout_from_pin
            else plan.drill_settings.consumer_timeout_ms,
        )
        try:
            with contextlib.ExitStack() as cleanup:
                cleanup.callback(self.env.down)
                endpoints = self.env.up(plan.releases.baseline.release_tag, consumer)
                self.listener.environment_ready(endpoints, self.env.toxiproxy_kind)
                if self._seed is not None:
                    self._seed(endpoints.memorykernel_url)
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
                )
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

    def _run_drills(self, ctx: FaultContext, endpoints: Endpoints) -> tuple[Verdict, str]:
        plan = self.plan
        total = len(plan.drills)
        stop_reason = ""
        for index, loaded in enumerate(plan.drills, start=1):
            if stop_reason:
                self._results.append(skipped(loaded, stop_reason, self.clock.utc_iso()))
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
        self.listener.drill_started(loaded.drill.name, index, total)
        drill_run = DrillRun(
            loaded,
            ctx,
            lambda timeout: self._probe_factory(endpoints, timeout),
            self.clock,
            self.plan.drill_settings,
            self.listener.phase_changed,
            watch_preflight=self._watch_preflight,
            load_url=self._load_url or f"{endpoints.consumer_url}/v1/draft",
        )
        result = drill_run.run(self.clock.utc_iso())
        if not drill_run.interrupted and result.verdict is not Verdict.ERROR:
            # The next drill starts only on a path proven healthy; what this one left is its own.
            guard = PathGuard(
                ctx, lambda timeout: self._probe_factory(endpoints, timeout), self.clock
            )
            result = guard.after(result)
        self._results.append(result)
        self.listener.drill_finished(
            result, self._record(Verdict.INTERRUPTED, "run in progress", finished=False)
        )
        if drill_run.interrupted:
            raise Interrupted("interrupted by signal")
        return result

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
            result = self._run_one(ctx, endpoints, loaded, len(self._results) + 1, len(plan.drills))
            if result.verdict is Verdict.ERROR:
                broken.append(f"{result.name}: {result.reason}")
            return result

        drive(run_drill)
        ran = {r.name for r in self._results}
        for loaded in plan.drills:
            if loaded.drill.name not in ran:
                self._results.append(skipped(loaded, NOT_RUN, self.clock.utc_iso()))
        if broken:
            raise EnvironmentFailure(broken[0])
        return overall(self._results)


class EnvironmentFailure(DrillError):
    """A drill could not run because the environment broke (exit 3)."""

    exit_code = 3


def overall(results: Sequence[DrillResult]) -> tuple[Verdict, str]:
    """The run's verdict from its drills."""
    failed = [r.name for r in results if r.verdict in (Verdict.FAILED, Verdict.ERROR)]
    if failed:
        return Verdict.FAILED, f"{len(failed)} of {len(results)} drills failed: {', '.join(failed)}"
    passed = sum(r.verdict is Verdict.PASSED for r in results)
    skipped = [r.name for r in results if r.verdict is Verdict.SKIPPED]
    reason = f"{passed} of {len(results)} drills passed"
    if skipped:
        reason += f", {len(skipped)} skipped ({', '.join(skipped)})"
    return Verdict.PASSED, reason


def skipped(loaded: LoadedDrill, reason: str, started_at: str) -> DrillResult:
    """The result of a drill that was not run."""
    drill = loaded.drill
    return DrillResult(
        name=drill.name,
        description=drill.description,
        suites=list(drill.suites),
        file=str(loaded.path),
        verdict=Verdict.SKIPPED,
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
