"""One drill, phase by phase: steady state → inject → observe → recover → verify, undo always run."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from runner.backends.base import ConsumerSettings
from runner.clock import Clock
from runner.consumers.target import ConsumerTarget
from runner.contract import DEFAULT_TIMEOUT_MS, RELEASES
from runner.errors import DrillError, FaultUnsupported, Interrupted
from runner.evaluate import (
    enriched_streak,
    fallback_counts,
    fault_assertions,
    latency_stats,
    load_assertions,
    restore_assertion,
    split_fallback_reasons,
    steady_assertion,
    summarize,
)
from runner.faults.catalog import FaultContext, describe, inject
from runner.faults.proxy_flush import flush_proxy
from runner.loader import LoadedDrill
from runner.probes.draft import Probe
from runner.probes.loadgen import LoadDraft, LoadGenerator, LoadTarget
from runner.probes.pace import RESTORE_SHARE, Pace, pace_for, watch_timeout_s
from runner.probes.sampler import Sampler, TimedSample
from runner.record import (
    Assertion,
    ConsumerCapacity,
    DrillResult,
    FaultWindow,
    LoadSummary,
    Milestone,
    MilestoneName,
    Phase,
    PhaseSpan,
    Sample,
    TimeToRestore,
    Verdict,
)
from runner.restore import CONSUMER_SIDE, MilestoneWatch, WatchThread
from runner.rollback import perform_restore, plan_restore
from runner.spec import number

log = logging.getLogger(__name__)

TIMEOUT_VAR = "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"
CALLS_PER_DRAFT = 3  # health, schema-version, ask: each bounded by the consumer timeout
LATENCY_MARGIN_MS = 250.0
RESTORE_GRACE_S = 5.0
STEADY_RATE_HZ = 100.0
# Fallbacks no amount of waiting changes: the consumer's own request is refused (contract §3.4).
DETERMINISTIC_REASONS = frozenset({"validation-error"})
IMPOSSIBLE_AFTER = 20  # Drafts in a row refused that way end the steady-state wait
LOAD_START_DEADLINE_S = 30.0  # worker processes start (Python + imports) while steady state runs


@dataclass(frozen=True)
class DrillSettings:
    """Run-wide knobs every drill shares."""

    rate_hz: float = 25.0  # fault window and restore
    steady_needed: int = 5
    steady_timeout_s: float = 10.0
    consumer_timeout_ms: int = DEFAULT_TIMEOUT_MS
    consumer_timeout_from_pin: bool = False  # no override: the consumer uses its pin's own timeout
    load_workers: int = 0  # extra concurrent Drafters during the fault window
    steady_rate_hz: float = STEADY_RATE_HZ
    verify_rate_hz: float = STEADY_RATE_HZ
    capacity: ConsumerCapacity | None = None  # the consumer's own, measured before the drills

    def target_rate(self, phase: Phase) -> float:
        """The rate asked for in `phase` (before the consumer's capacity caps it)."""
        if phase is Phase.STEADY:
            return self.steady_rate_hz
        if phase is Phase.VERIFY:
            return self.verify_rate_hz
        return self.rate_hz

    def pace(self, phase: Phase, bound_ms: float) -> Pace:
        """How fast the probe drafts in `phase` (while restoring, it leaves room for the watcher)."""
        share = RESTORE_SHARE if phase is Phase.RECOVER else 1.0
        healthy = phase in (Phase.STEADY, Phase.VERIFY)
        return pace_for(self.target_rate(phase), self.capacity, bound_ms, share, healthy)


PhaseListener = Callable[[str, Phase], None]


def latency_bound_ms(loaded: LoadedDrill, settings: DrillSettings) -> float:
    """The drill's Draft latency bound: explicit, or derived from the consumer timeout × calls per Draft."""
    bound = loaded.drill.expect.latency_bound_ms
    if bound != "auto":
        return number(bound)
    return CALLS_PER_DRAFT * max(drill_timeout_ms(loaded, settings), 100) + LATENCY_MARGIN_MS


def drill_timeout_ms(loaded: LoadedDrill, settings: DrillSettings) -> int:
    """The consumer timeout a drill runs with: its own override, else the run's."""
    return loaded.drill.consumer.timeout_ms or settings.consumer_timeout_ms


class DrillRun:
    """Runs one drill against an environment that is up and at the baseline release."""

    def __init__(
        self,
        loaded: LoadedDrill,
        ctx: FaultContext,
        probe_factory: Callable[[float], Probe],
        clock: Clock,
        settings: DrillSettings,
        on_phase: PhaseListener,
        watch_preflight: bool = True,
        load_target: LoadTarget | None = None,
        target: ConsumerTarget = ConsumerTarget(),
    ) -> None:
        self.loaded = loaded
        self.drill = loaded.drill
        self.ctx = ctx
        self.clock = clock
        self.settings = settings
        self.on_phase = on_phase
        self._watch_preflight = watch_preflight
        self._load_target = load_target
        self.target = target
        self.bound_ms = latency_bound_ms(loaded, settings)
        self._probe_factory = probe_factory
        self._phases: list[PhaseSpan] = []
        self._phase: Phase = Phase.PREPARE
        self._phase_start = 0.0
        self._assertions: list[Assertion] = []
        self._ttr: TimeToRestore | None = None
        self._window: FaultWindow | None = None
        self.interrupted = False
        self.steady_gave_up: str | None = None
        self._deferred: Callable[[list[Sample]], list[Assertion]] | None = None
        self._load: list[LoadDraft] | None = None  # the --load Drafters' Drafts, judged apart
        self._skipped = ""  # why the drill was skipped (the backend cannot inject its fault)

    # Phase bookkeeping ---------------------------------------------------------------------------

    def _enter(self, phase: Phase, sampler: Sampler | None) -> None:
        now = self.clock.now() - self._t0
        if self._phase_start or self._phases or phase is not Phase.PREPARE:
            self._phases.append(
                PhaseSpan(
                    phase=self._phase, start_s=round(self._phase_start, 4), end_s=round(now, 4)
                )
            )
        self._phase, self._phase_start = phase, now
        if sampler is not None:
            sampler.phase = phase
            pace = self.settings.pace(phase, self.bound_ms)
            sampler.set_pace(pace.rate_hz, pace.slots)
        self.on_phase(self.drill.name, phase)

    def _close_phase(self) -> None:
        now = self.clock.now() - self._t0
        self._phases.append(
            PhaseSpan(phase=self._phase, start_s=round(self._phase_start, 4), end_s=round(now, 4))
        )

    # The run -------------------------------------------------------------------------------------

    def run(self, started_at: str) -> DrillResult:
        """Run every phase; always returns a result. After SIGINT/SIGTERM, `interrupted` is set."""
        self._t0 = self.clock.now()
        probe = self._probe_factory(self.bound_ms / 1000 + 2.0)
        first = self.settings.pace(Phase.STEADY, self.bound_ms)
        sampler = Sampler(probe, self.clock, first.rate_hz, first.slots)
        error: DrillError | None = None
        interrupted: Interrupted | None = None
        try:
            with contextlib.ExitStack() as undo:
                undo.callback(probe.close)
                self._prepare(undo)
                # Registered after the consumer overrides, so the probe stops before they are undone.
                undo.callback(sampler.stop, self.bound_ms / 1000 + 2.0)
                self.ctx = replace(self.ctx, probe_paused=sampler.paused)
                sampler.start()
                self._phases_with_probe(sampler, undo)
        except Interrupted as exc:
            interrupted = exc
        except DrillError as exc:
            error = exc
        self._close_phase()
        self.interrupted = interrupted is not None
        return self._result(sampler.samples(), started_at, error, interrupted)

    def _prepare(self, undo: contextlib.ExitStack) -> None:
        overrides = self.drill.consumer
        base = self.ctx.consumer
        # Only reached when the consumer under test can take them (else the drill is not applicable).
        if overrides.ask_body and overrides.ask_body != base.ask_body:
            changed = replace(base, ask_body=overrides.ask_body)
            self.ctx.target.restart(changed)
            undo.callback(self.ctx.target.restart, base)
            self.ctx = replace(self.ctx, consumer=changed)
        if overrides.timeout_ms is not None:
            previous = base.env.get(TIMEOUT_VAR)
            self.ctx.target.set_env({TIMEOUT_VAR: str(overrides.timeout_ms)})
            undo.callback(self.ctx.target.set_env, {TIMEOUT_VAR: previous})

    def _phases_with_probe(self, sampler: Sampler, undo: contextlib.ExitStack) -> None:
        load = None
        if (
            self.settings.load_workers and self._load_target
        ):  # started now, drafting from the window on
            load = LoadGenerator(
                self._load_target, self.settings.load_workers, self.bound_ms / 1000 + 2.0
            )
            undo.callback(load.stop, self.bound_ms / 1000 + 5.0)
        self._enter(Phase.STEADY, sampler)
        steady_ok = self._await_enriched(sampler, Phase.STEADY)
        self._assertions.append(
            steady_assertion(
                Phase.STEADY,
                self._samples(sampler),
                self.settings.steady_needed,
                steady_ok,
                note=self.steady_gave_up,
            )
        )
        if not steady_ok:  # the failed steady assertion says why; nothing is injected
            return
        if load is not None:
            load.wait_ready(LOAD_START_DEADLINE_S)
        # The restore watcher is made now, so its set-up falls outside the restore it times.
        watcher = WatchThread(self._probe_factory(watch_timeout_s(self.settings.capacity)))
        undo.callback(watcher.close)
        self._enter(Phase.INJECT, sampler)
        fault_start = self.clock.now()
        try:
            remove_fault = inject(self.drill.fault, self.ctx)
        except (
            FaultUnsupported
        ) as exc:  # nothing was applied: this drill is skipped, the run goes on
            self._skipped = f"skipped: {exc}"
            return
        undo.callback(remove_fault)
        self._enter(Phase.OBSERVE, sampler)
        observe_start = self.clock.now()
        if load is not None:
            load.go()
        self.clock.sleep(number(self.drill.window_s))
        window = self.clock.now() - observe_start
        if load is not None:  # the load covers the fault window, not the restore it would slow down
            self._load = load.stop(self.bound_ms / 1000 + 5.0)
        self._enter(Phase.RECOVER, sampler)
        recover_start = self.clock.now()
        self._window = FaultWindow(
            kind=self.drill.fault.kind,
            description=describe(self.drill.fault),
            start_s=round(fault_start - self._t0, 4),
            end_s=round(recover_start - self._t0, 4),
        )
        self._ttr = self._restore(remove_fault, recover_start, watcher, undo)
        self._enter(Phase.VERIFY, sampler)
        verify_ok = self._await_enriched(sampler, Phase.VERIFY)
        # Judged once the sampler has drained, so Drafts still in flight at the end of the window count.
        self._deferred = lambda samples: [
            *fault_assertions(
                self.drill,
                samples,
                window,
                self.bound_ms,
                recover_start - self._t0,
                paced_hz=self.settings.pace(Phase.OBSERVE, self.bound_ms).rate_hz,
            ),
            restore_assertion(self._ttr),  # type: ignore[arg-type]
            steady_assertion(Phase.VERIFY, samples, self.settings.steady_needed, verify_ok),
            *self._load_assertions(),
        ]

    def _load_samples(self) -> list[Sample]:
        drafts = self._load or []
        return to_samples(
            [TimedSample(d.started, Phase.OBSERVE, d.outcome) for d in drafts], self._t0
        )

    def _load_assertions(self) -> list[Assertion]:
        """The load's Drafts judged on their own: a starved probe cannot hide behind them."""
        if self._load is None:
            return []
        drafts = sorted(self._load, key=lambda d: d.started)
        return load_assertions(
            self._load_samples(),
            [d.drafter for d in drafts],
            self.settings.load_workers,
            self.drill.expect.min_availability,
            self.bound_ms,
        )

    def _load_summary(self) -> LoadSummary | None:
        if self._load is None:
            return None
        samples = self._load_samples()
        return LoadSummary(
            workers=self.settings.load_workers,
            drafts=len(samples),
            answered=sum(s.ok for s in samples),
            enriched=sum(s.applied for s in samples),
            drafters_answered=len({d.drafter for d in self._load if d.outcome.ok}),
            latency=latency_stats(samples),
            fallback_reasons=fallback_counts(samples),
        )

    def _restore(
        self,
        remove_fault: Callable[[], None],
        started: float,
        watcher: WatchThread,
        undo: contextlib.ExitStack,
    ) -> TimeToRestore:
        """Remove the fault or roll back, while a watcher times each milestone."""
        recover = self.drill.recover
        budget_s = number(recover.budget_s)
        plan = plan_restore(recover, self.ctx)
        watch = MilestoneWatch(
            clock=self.clock,
            memorykernel_url=self.ctx.endpoints.memorykernel_url,
            consumer_url=self.ctx.endpoints.consumer_url if self._watch_preflight else None,
            expected_versions=plan.expected_versions(),
            draft=watcher.probe.draft,
            repinned_to=plan.pin.release_tag if plan.repin is not None else None,
            consumer_gate=threading.Event() if recover.flush_proxy else None,
        )
        watcher.start(watch, started, budget_s + RESTORE_GRACE_S)
        flushed: float | None = None
        try:
            perform_restore(plan, self.ctx, remove_fault, undo)
            if watch.consumer_gate is not None:
                flushed = self._flush_proxy(started)
        finally:
            if watch.consumer_gate is not None:
                watch.consumer_gate.set()
            watcher.join(timeout_s=budget_s + RESTORE_GRACE_S + 5.0)
        milestones = list(watcher.milestones)
        if flushed is not None:
            milestones = with_flush(milestones, flushed)
        first = milestones[-1].at_s if milestones else None
        trio = plan.repin
        return TimeToRestore(
            kind=recover.kind,
            target_release=plan.release or self.ctx.env.memorykernel_release,
            started_s=round(started - self._t0, 4),
            total_s=round(first, 4) if first is not None else None,
            resolution_s=milestones[-1].resolution_s if first is not None else None,
            budget_s=budget_s,
            within_budget=first is not None and first <= budget_s,
            milestones=milestones,
            target_pin=f"{plan.pin.release_tag} ({plan.pin.expected_service_contract_version})",
            repinned=trio is not None,
            trio={
                "provenance": trio.provenance,
                "pin_sha256": trio.expected.pin_sha256,
                "manifest_sha256": trio.expected.manifest_sha256,
                "matrix_sha256": trio.expected.matrix_sha256,
            }
            if trio is not None
            else {},
        )

    def _flush_proxy(self, started: float) -> float | None:
        """Drop what the proxy queued during the fault; seconds after `started`, None if it failed.

        A failed flush is left to the path check after the drill, which says what was wrong.
        """
        try:
            flush_proxy(self.ctx)
        except DrillError as exc:
            log.warning("%s: flushing the proxy failed: %s", self.drill.name, exc)
            return None
        return round(self.clock.now() - started, 4)

    def _await_enriched(self, sampler: Sampler, phase: Phase) -> bool:
        """Wait for `steady_needed` enriched Drafts in a row started in `phase`.

        Before any fault, a run of Drafts all rejected the same deterministic way (the consumer's
        request itself refused, e.g. 422 `invalid_json`) cannot turn enriched by waiting: the wait
        stops there and says so, instead of running to its deadline.
        """
        deadline = self.clock.now() + self.settings.steady_timeout_s
        while self.clock.now() < deadline:
            rejected: list[str] = []
            answered = [s for s in sampler.samples() if s.phase is phase]
            # Drafts still in flight break a run of enriched ones: they may yet fall back.
            streak = enriched_streak(
                [(s.started, s.outcome.ok and s.outcome.applied) for s in answered]
                + [(started, None) for started in sampler.in_flight(phase)]
            )
            for sample in sorted(answered, key=lambda s: s.started):
                outcome = sample.outcome
                reason = outcome.fallback_reason
                if outcome.applied or reason not in DETERMINISTIC_REASONS:
                    rejected = []
                elif not rejected or rejected[-1] == reason:
                    rejected.append(str(reason))
                else:
                    rejected = [str(reason)]
            if streak >= self.settings.steady_needed:
                return True
            if phase is Phase.STEADY and len(rejected) >= IMPOSSIBLE_AFTER:
                self.steady_gave_up = (
                    f"gave up after {len(rejected)} {rejected[-1]} in a row with no fault on"
                )
                return False
            sampler.wait_for_sample(0.1)
        return False

    # Results -------------------------------------------------------------------------------------

    def _timeout_source(self) -> str:
        if self.drill.consumer.timeout_ms is not None:
            return "drill consumer.timeout_ms"
        return "pin default_timeout_ms" if self.settings.consumer_timeout_from_pin else "run"

    def _samples(self, sampler: Sampler) -> list[Sample]:
        return to_samples(sampler.samples(), self._t0)

    def _result(
        self,
        raw: Sequence[TimedSample],
        started_at: str,
        error: DrillError | None,
        interrupted: Interrupted | None,
    ) -> DrillResult:
        samples = to_samples(raw, self._t0)
        if self._deferred is not None and interrupted is None and error is None:
            self._assertions.extend(self._deferred(samples))
        failed = [a for a in self._assertions if not a.passed]
        if self._skipped and interrupted is None and error is None:
            verdict, reason = Verdict.SKIPPED, self._skipped
        elif interrupted is not None:
            verdict, reason = Verdict.INTERRUPTED, "interrupted by signal; cleanup ran"
        elif error is not None:
            verdict, reason = Verdict.ERROR, f"{type(error).__name__}: {error}"
        elif failed:
            first = failed[0]
            verdict, reason = (
                Verdict.FAILED,
                f"{first.name}: expected {first.expected}, observed {first.observed}",
            )
            message = _first_message(samples, first.phase)
            if message:
                reason += f" — {message}"
            if first.phase in (Phase.STEADY, Phase.VERIFY):
                reason += self._pin_mismatch(raw, first.phase)
        else:
            verdict, reason = Verdict.PASSED, "every assertion held"
        judged, others = split_fallback_reasons(
            samples, self._window.end_s if self._window is not None else None
        )
        return DrillResult(
            name=self.drill.name,
            description=self.drill.description,
            suites=list(self.drill.suites),
            file=str(self.loaded.path),
            verdict=verdict,
            reason=reason,
            started_at=started_at,
            duration_s=round(self.clock.now() - self._t0, 4),
            fault=self.drill.fault.model_dump(mode="json"),
            fault_window=self._window,
            consumer=self._consumer_settings(),
            timeout_relative=dict(self.loaded.relative),
            expected_red=self.drill.expected_red,
            phases=self._phases,
            probe=summarize(samples),
            fallback_reasons=judged,
            other_fallback_reasons=others,
            load=self._load_summary(),
            latency_bound_ms=self.bound_ms,
            assertions=self._assertions,
            time_to_restore=self._ttr,
            samples=samples,
        )

    def _consumer_settings(self) -> dict[str, str]:
        """What this drill ran the consumer under test with, and what it could not set."""
        consumer = self.ctx.consumer
        timeout = str(drill_timeout_ms(self.loaded, self.settings))
        if self.target.is_reference:
            return {
                "ask_body": consumer.ask_body,
                "defect": consumer.defect.value,
                "pin": consumer.pin.release_tag,
                "pin_contract": consumer.pin.expected_service_contract_version,
                "timeout_ms": timeout,
                "timeout_source": self._timeout_source(),
            }
        own = "its own"
        return {
            "consumer": self.target.describe(),
            "ask_body": own,
            "defect": own,
            "pin": consumer.pin.release_tag
            if self.target.swaps_pin
            else f"{consumer.pin.release_tag} (its own)",
            "pin_contract": consumer.pin.expected_service_contract_version,
            "timeout_ms": timeout,
            "timeout_source": self._timeout_source()
            if self.target.sets_env
            else "assumed (mkdrill cannot set it): "
            + (
                "--consumer-timeout-ms"
                if not self.settings.consumer_timeout_from_pin
                else "its pin's default_timeout_ms"
            ),
        }

    def _pin_mismatch(self, raw: Sequence[TimedSample], phase: Phase) -> str:
        """When the steady state fell back on version-mismatch: which pin and release differ."""
        mismatched = [
            s.outcome
            for s in raw
            if s.phase is phase and s.outcome.fallback_reason == "version-mismatch"
        ]
        if not mismatched:
            return ""
        said = next((o.consumer_pin for o in mismatched if o.consumer_pin), None)
        pin = self.ctx.consumer.pin
        carries = said or (
            f"{pin.release_tag} {pin.expected_service_contract_version}/{pin.expected_api_contract_version}"
        )
        release = self.ctx.env.memorykernel_release
        known = RELEASES.get(release)
        runs = (
            f"{release} {known.service_contract_version}/{known.api_contract_version}"
            if known
            else release
        )
        return (
            f" — the consumer's pin ({carries}) and the release under test ({runs}) differ: "
            "give --pin a pin of the consumer's release, or --consumer-pin the consumer's own pin"
        )


def with_flush(milestones: list[Milestone], flushed_s: float) -> list[Milestone]:
    """The watched milestones with proxy_flushed in time order (the consumer's come after it:
    they are watched only once the flush is done)."""
    at = next(
        (
            i
            for i, m in enumerate(milestones)
            if m.name in CONSUMER_SIDE or m.at_s is None or m.at_s > flushed_s
        ),
        len(milestones),
    )
    flushed = Milestone(name=MilestoneName.PROXY_FLUSHED, at_s=flushed_s)
    return [*milestones[:at], flushed, *milestones[at:]]


def to_samples(raw: Sequence[TimedSample], t0: float) -> list[Sample]:
    """Record form of the sampler's samples, ordered by start time, times relative to `t0`."""
    return [
        Sample(
            t_s=round(s.started - t0, 4),
            phase=s.phase,
            http_status=s.outcome.http_status,
            ok=s.outcome.ok,
            applied=s.outcome.applied,
            fallback_reason=s.outcome.fallback_reason,
            machine_error_code=s.outcome.machine_error_code,
            preflight_status=s.outcome.preflight_status,
            latency_ms=round(s.outcome.latency_ms, 3),
            error=s.outcome.error,
            message=s.outcome.message,
        )
        for s in sorted(raw, key=lambda s: s.started)
    ]


def _first_message(samples: Sequence[Sample], phase: Phase) -> str:
    for sample in samples:
        if sample.phase is phase and not sample.applied and sample.message:
            return sample.message  # whole: the displays shorten it at a word
    return ""


def consumer_settings_for(base: ConsumerSettings, timeout_ms: int | None) -> ConsumerSettings:
    """The run's consumer settings with the consumer timeout env var set (None: the pin's own)."""
    if timeout_ms is None:
        return replace(base, env={k: v for k, v in base.env.items() if k != TIMEOUT_VAR})
    return replace(base, env={**base.env, TIMEOUT_VAR: str(timeout_ms)})
