"""How mkdrill performs and verifies each checklist step against the running environment.

    freeze         perform: record the consumer's deployed trio (pin, matrix, manifest SHA-256).
                   verify: a freeze is recorded and the deployed trio is the frozen one or the
                   last approved one a rollback put back — no upgrade went out meanwhile.
    remove_faults  perform: undo every fault of the incident.
                   verify: none is on, MemoryKernel's health names the pin's contract, and the
                   Draft probe saw enriched Drafts in a row started after the fix.
    revert_trio    perform: `revert_trio` puts the last green trio back (each file's SHA-256
                   checked, the three swapped at once), MemoryKernel starts at its release, the
                   faults are undone and the consumer is redeployed with that pin.
                   verify: the deployed files' SHA-256 match the last green trio, the consumer
                   reports that pin, health names its contract, enriched Drafts in a row.
    contract       perform: a contract and CI re-run (`contract_check`), recorded.
                   verify: the latest re-run passed and began after the fix.

The summary step touches only the rehearsal's own files: the session publishes them and
`verify_summary` checks what they hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from runner.clock import Clock
from runner.errors import DrillError
from runner.evaluate import enriched_streak
from runner.faults.catalog import FaultContext, wait_memorykernel_health
from runner.pins import Pin
from runner.probes.draft import DraftOutcome
from runner.probes.sampler import Sampler
from runner.record import Phase
from runner.rehearsal.contract_check import run_contract_suite
from runner.rehearsal.health import read_health
from runner.rehearsal.incident import Incident
from runner.rehearsal.record import ContractRun
from runner.rehearsal.scenario import StepKind
from runner.tls import shared_ssl_context
from runner.trio import ConsumerPinFolder, RollbackTarget, TrioDigests, revert_trio, verify_trio

ENRICHED_IN_A_ROW = 5
VERIFY_DEADLINE_S = 15.0


@dataclass(frozen=True)
class StepOutcome:
    """What performing or verifying a step found; a contract re-run carries its record."""

    ok: bool
    detail: str
    contract_run: ContractRun | None = None


class StepActions:
    """Performs and verifies the environment-touching steps; one at a time, on the session's worker."""

    def __init__(
        self,
        ctx: FaultContext,
        incident: Incident,
        folder: ConsumerPinFolder,
        target: RollbackTarget | None,
        sampler: Sampler,
        clock: Clock,
        incident_time: Callable[[float], float],
        draft: Callable[[], DraftOutcome],
    ) -> None:
        self.ctx = ctx
        self.incident = incident
        self.folder = folder
        self.target = target
        self.sampler = sampler
        self.clock = clock
        self._incident_time = incident_time
        self._draft = draft
        self.frozen: TrioDigests | None = None
        self.fixed_at: float | None = None  # monotonic: the fix began
        self.pin: Pin = ctx.consumer.pin
        self.contract_runs: list[ContractRun] = []

    def perform(self, kind: StepKind) -> StepOutcome:
        """Carry the step out; a DrillError becomes a failed outcome naming it."""
        try:
            match kind:
                case StepKind.FREEZE:
                    return self._freeze()
                case StepKind.REMOVE_FAULTS:
                    return self._remove_faults()
                case StepKind.REVERT_TRIO:
                    return self._revert_trio()
                case StepKind.CONTRACT:
                    return self._contract()
        except DrillError as exc:
            return StepOutcome(False, f"{type(exc).__name__}: {exc}")
        raise ValueError(f"{kind.value} is not performed here")

    def verify(self, kind: StepKind) -> StepOutcome:
        """Check the step as things stand now."""
        try:
            match kind:
                case StepKind.FREEZE:
                    return self._verify_freeze()
                case StepKind.REMOVE_FAULTS:
                    return self._verify_fix(None)
                case StepKind.REVERT_TRIO:
                    return self._verify_revert()
                case StepKind.CONTRACT:
                    return self._verify_contract()
        except DrillError as exc:
            return StepOutcome(False, f"{type(exc).__name__}: {exc}")
        raise ValueError(f"{kind.value} is not verified here")

    # freeze --------------------------------------------------------------------------------------

    def _deployed(self) -> TrioDigests:
        current = self.folder.current()
        if current is None:
            raise _missing(self.folder)
        return current.digests

    def _freeze(self) -> StepOutcome:
        self.frozen = self._deployed()
        return StepOutcome(
            True, f"baseline frozen at {self.pin.release_tag}: {_digests(self.frozen)}"
        )

    def _verify_freeze(self) -> StepOutcome:
        if self.frozen is None:
            return StepOutcome(False, "no freeze recorded: perform the step")
        deployed = self._deployed()
        allowed = {self.frozen: "the frozen trio"}
        if self.target is not None:
            allowed[self.target.expected] = "the last approved trio (rolled back)"
        if deployed not in allowed:
            return StepOutcome(
                False, f"the deployed trio changed during the freeze: {_digests(deployed)}"
            )
        return StepOutcome(True, f"no upgrade since the freeze: deployed is {allowed[deployed]}")

    # the fix -----------------------------------------------------------------------------------

    def _remove_faults(self) -> StepOutcome:
        self.fixed_at = self.clock.now()
        removed = self.incident.stop("fix")
        return StepOutcome(True, f"removed {', '.join(removed) or 'nothing (no fault was on)'}")

    def _revert_trio(self) -> StepOutcome:
        target = self.target
        if target is None:
            return StepOutcome(False, "no last approved trio to revert to")
        self.fixed_at = self.clock.now()
        installed = revert_trio(self.folder, target.trio, target.expected)
        self.ctx.env.start_memorykernel(target.release_tag)
        wait_memorykernel_health(self.ctx, after="the rollback")
        self.incident.stop("fix")
        # A re-pin is a redeploy of the Draft flow: the probe pauses while the consumer restarts.
        with self.ctx.probe_paused():
            paused = self.clock.now()
            self.ctx.target.restart(replace(self.ctx.consumer, pin=installed.pin))
            paused = self.clock.now() - paused
        self.pin = installed.pin
        return StepOutcome(
            True,
            f"reverted to {target.trio.describe()}; MemoryKernel {target.release_tag}, consumer "
            f"redeployed with that pin (no Draft sampled during its {paused:.1f} s restart)",
        )

    def _verify_fix(self, also: str | None) -> StepOutcome:
        if self.fixed_at is None:
            return StepOutcome(False, "the fix was not performed: perform the step")
        if self.incident.active:
            return StepOutcome(False, f"{len(self.incident.active)} fault(s) still on")
        pin = self.pin
        expected = (pin.expected_service_contract_version, pin.expected_api_contract_version)
        with httpx.Client(timeout=1.0, verify=shared_ssl_context()) as client:
            health = read_health(client, f"{self.ctx.endpoints.memorykernel_url}/v1/health")
        if (health.service_contract_version, health.api_contract_version) != expected:
            return StepOutcome(
                False,
                f"MemoryKernel health: {health.label()}, the pin expects {expected[0]}/{expected[1]}",
            )
        streak = self._await_enriched(self.fixed_at)
        if streak < ENRICHED_IN_A_ROW:
            return StepOutcome(
                False,
                f"{streak} enriched Drafts in a row after the fix within {VERIFY_DEADLINE_S:g} s, {ENRICHED_IN_A_ROW} needed",
            )
        found = f"MemoryKernel {self.ctx.env.memorykernel_release} healthy ({expected[0]}), {ENRICHED_IN_A_ROW} enriched Drafts in a row since the fix"
        return StepOutcome(True, f"{also}; {found}" if also else found)

    def _await_enriched(self, since: float) -> int:
        deadline = self.clock.now() + VERIFY_DEADLINE_S
        streak = 0
        while True:
            samples = [s for s in self.sampler.samples() if s.started >= since]
            streak = enriched_streak(
                [(s.started, s.outcome.ok and s.outcome.applied) for s in samples]
                + [(t, None) for t in self._in_flight_since(since)]
            )
            if streak >= ENRICHED_IN_A_ROW or self.clock.now() >= deadline:
                return streak
            self.sampler.wait_for_sample(0.1)

    def _in_flight_since(self, since: float) -> list[float]:
        return [t for phase in Phase for t in self.sampler.in_flight(phase) if t >= since]

    def _verify_revert(self) -> StepOutcome:
        target = self.target
        if target is None:
            return StepOutcome(False, "no last approved trio to revert to")
        current = self.folder.current()
        if current is None:
            raise _missing(self.folder)
        try:
            verify_trio(current, target.expected)
        except DrillError as exc:
            return StepOutcome(False, str(exc))
        reported = self._consumer_pin()
        want = (target.release_tag, target.trio.pin.expected_service_contract_version)
        if reported != want:
            return StepOutcome(
                False,
                f"the consumer reports pin {reported[0]} ({reported[1]}), not {want[0]} ({want[1]})",
            )
        return self._verify_fix(
            f"deployed pin, matrix and manifest match the last green trio ({_digests(target.expected)}); consumer pinned {want[0]} ({want[1]})"
        )

    def _consumer_pin(self) -> tuple[str | None, str | None]:
        try:
            with httpx.Client(timeout=2.0, verify=shared_ssl_context()) as client:
                data = json.loads(client.get(f"{self.ctx.endpoints.consumer_url}/v1/pin").content)
        except (httpx.HTTPError, ValueError):
            return None, None
        if not isinstance(data, dict):
            return None, None
        return data.get("release_tag"), data.get("expected_service_contract_version")

    # contract ----------------------------------------------------------------------------------

    def _contract(self) -> StepOutcome:
        current = self.folder.current()
        if current is None:
            raise _missing(self.folder)
        run = run_contract_suite(
            self.ctx.endpoints.memorykernel_url,
            current,
            self._draft,
            self._incident_time(self.clock.now()),
        )
        self.contract_runs.append(run)
        failed = [f"{c.name}: {c.observed}" for c in run.checks if not c.passed]
        detail = f"{len(run.checks)} checks against {run.target}: " + (
            "all passed" if run.passed else "; ".join(failed)
        )
        return StepOutcome(True, detail, contract_run=run)

    def _verify_contract(self) -> StepOutcome:
        if not self.contract_runs:
            return StepOutcome(False, "no contract re-run yet: perform the step")
        latest = self.contract_runs[-1]
        if self.fixed_at is None or latest.started_s < self._incident_time(self.fixed_at):
            return StepOutcome(
                False, "the latest contract re-run began before the fix: run it again"
            )
        if not latest.passed:
            failed = ", ".join(c.name for c in latest.checks if not c.passed)
            return StepOutcome(False, f"the latest contract re-run failed ({failed})")
        return StepOutcome(
            True,
            f"contract and CI re-run passed against {latest.target} ({len(latest.checks)} checks)",
        )


def verify_summary(
    path: Path, root_cause: str, diagnoses: list[str], prevention: list[str]
) -> StepOutcome:
    """The summary step: a diagnosis and a prevention action entered, and the published summary
    holding the root cause, the first diagnosis and every prevention action."""
    if not diagnoses:
        return StepOutcome(False, "no diagnosis entered: d TEXT")
    if not prevention:
        return StepOutcome(False, "no prevention action entered: p TEXT")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return StepOutcome(False, f"{path} not written: perform the step")
    wanted = [root_cause, diagnoses[0], *prevention]
    missing = [w for w in wanted if w.replace("|", "\\|") not in text]  # as in a Markdown cell
    if missing:
        return StepOutcome(False, f"the published summary lacks {missing[0]!r}: publish it again")
    return StepOutcome(
        True,
        f"summary holds the root cause, the diagnosis and {len(prevention)} prevention action(s)",
    )


def _digests(digests: TrioDigests) -> str:
    return (
        f"pin {digests.pin_sha256[:12]}, matrix {digests.matrix_sha256[:12]}, "
        f"manifest {digests.manifest_sha256[:12]}"
    )


def _missing(folder: ConsumerPinFolder) -> DrillError:
    from runner.errors import RollbackError

    return RollbackError(f"{folder.current_dir}: no deployed trio (pin, matrix, manifest)")
