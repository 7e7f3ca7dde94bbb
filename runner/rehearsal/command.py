"""`mkdrill rehearse`: scenario, pins and trio decided first, then lock, environment, session, reports, ledger."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runner.clock import SystemClock
from runner.contract import RELEASES
from runner.errors import EXIT_DRILL_FAILED, EXIT_PASSED, DefinitionError, DrillError
from runner.ledger import Ledger, RehearsalRow
from runner.outputs import check_output_folder
from runner.pins import Pin
from runner.plan import consumer_timeout, load_consumer_pin, new_run_id, rollback_target
from runner.record import Verdict
from runner.rehearsal.catalog import choose_scenario, default_scenarios_dir
from runner.rehearsal.operators import Operator, TerminalOperator, UnattendedOperator
from runner.rehearsal.plan import RehearsalPlan
from runner.rehearsal.record import RehearsalRecord
from runner.rehearsal.report import SUMMARY_MD, availability_label, detect_label, restore_label
from runner.rehearsal.scenario import StepKind, describe_incident, resolve_scenario
from runner.rehearsal.screen import ScreenContext
from runner.rehearsal.session import RehearsalSession
from runner.run_command import make_environment
from runner.run_state import environment_lock
from runner.signals import interrupts_raise
from runner.trio import RollbackTarget, locate_trio


@dataclass(frozen=True)
class RehearseRequest:
    """What `mkdrill rehearse` was asked (after env vars and defaults)."""

    scenario: str | None
    blind: bool
    auto: bool
    out: Path | None
    reports_root: Path
    backend: str = "local"
    pin: Path | None = None
    scenarios_dir: Path | None = None
    consumer_timeout_ms: int | None = None
    rate_hz: float = 25.0
    idle_limit_s: float | None = None
    toxiproxy_url: str | None = None
    memorykernel_image: str | None = None
    toxiproxy_image: str | None = None
    memorykernel_bins: dict[str, Path] = field(default_factory=dict)


def build_rehearsal_plan(request: RehearseRequest, rehearsal_id: str) -> RehearsalPlan:
    """Validate everything the rehearsal needs (exit 2 on bad input) and fix its decisions."""
    loaded = choose_scenario(request.scenarios_dir or default_scenarios_dir(), request.scenario)
    pin = load_consumer_pin(request.pin)
    timeout_ms, from_pin = consumer_timeout(request.consumer_timeout_ms, pin)
    scenario = resolve_scenario(loaded.scenario, timeout_ms)
    try:
        trio = locate_trio(pin)
    except DefinitionError as exc:
        raise DefinitionError(f"--pin: {exc}") from None
    target = _target(request, pin, scenario.fix_step is StepKind.REVERT_TRIO)
    needed = {pin.release_tag, *([target.release_tag] if target else [])}
    if request.memorykernel_bins:
        missing = sorted(needed - set(request.memorykernel_bins))
        if missing:
            raise DefinitionError(
                f"--memorykernel-bin: give one for {missing[0]} (this rehearsal starts it)"
            )
    elif request.backend == "local" and not needed <= set(RELEASES):
        raise DefinitionError(
            f"--pin: release {sorted(needed - set(RELEASES))[0]} has no reference MemoryKernel on the "
            "local backend; use --backend compose with your own images"
        )
    out_dir = request.out or request.reports_root / rehearsal_id
    return RehearsalPlan(
        rehearsal_id=rehearsal_id,
        scenario=scenario,
        scenario_file=loaded.path,
        mode="auto" if request.auto else "interactive",
        blind=request.blind,
        backend=request.backend,
        consumer_pin=pin,
        consumer_trio=trio,
        target=target,
        out_dir=out_dir,
        timeout_ms=timeout_ms,
        timeout_from_pin=from_pin,
        rate_hz=request.rate_hz,
        idle_limit_s=request.idle_limit_s or scenario.idle_limit_s,
        settings={
            "consumer_timeout_ms": str(timeout_ms),
            "consumer_timeout_source": "pin default_timeout_ms"
            if from_pin
            else "--consumer-timeout-ms",
            "rate_hz": f"{request.rate_hz:g}",
            "surge_rate_hz": f"{scenario.surge_rate_hz:g}" if scenario.surge_rate_hz else "",
        },
    )


def _target(request: RehearseRequest, pin: Pin, needed: bool) -> RollbackTarget | None:
    """The last approved trio before the consumer's (from the ledger, else AssistSupport's record)."""
    ledger_path = request.reports_root / "ledger.sqlite3"
    try:
        if ledger_path.exists():
            with Ledger(ledger_path) as ledger:
                return rollback_target(pin, ledger)
        return rollback_target(pin, None)
    except DefinitionError:
        if needed:
            raise
        return None


def execute(request: RehearseRequest, stdin_tty: bool, stdout_tty: bool) -> int:
    """Rehearse; the exit code: 0 passed, 1 failed, 2 bad input, 3 environment, 130 interrupted."""
    if not request.auto and not (stdin_tty and stdout_tty):
        raise DefinitionError(
            "rehearse: not a terminal, so nobody can work the checklist; run it in a terminal, "
            "or give --auto for an unattended rehearsal"
        )
    rehearsal_id = new_run_id()
    check_output_folder(
        request.out or request.reports_root, "--out" if request.out else "reports folder"
    )
    plan = build_rehearsal_plan(request, rehearsal_id)
    clock = SystemClock()
    shown_name = (
        "hidden (--blind)" if plan.blind and request.scenario is None else plan.scenario.name
    )
    print(
        f"mkdrill rehearse {rehearsal_id}: scenario {shown_name} ({plan.mode}"
        f"{', blind' if plan.blind else ''}), backend {plan.backend}, pin {plan.consumer_pin.release_tag} "
        f"({plan.consumer_pin.expected_service_contract_version}), consumer timeout {plan.timeout_ms} ms, "
        f"budget {plan.scenario.budget_s:g} s"
    )
    sys.stdout.flush()
    with environment_lock(plan.backend, request.reports_root, rehearsal_id):
        env = make_environment(
            plan.backend,
            rehearsal_id,
            request.reports_root,
            request.toxiproxy_url,
            request.memorykernel_image,
            request.memorykernel_bins,
            request.toxiproxy_image,
        )
        session: RehearsalSession | None = None
        try:
            with (
                interrupts_raise(rehearsal_id, also=(signal.SIGHUP,)),
                _operator(plan, clock, shown_name) as operator,
            ):
                session = RehearsalSession(plan, env, clock, operator)
                record = session.run()
        except DrillError:
            if session is not None and session.record is not None:
                _finish(session.record, plan, request.reports_root)
            raise
        _finish(record, plan, request.reports_root)
    return EXIT_PASSED if record.verdict is Verdict.PASSED else EXIT_DRILL_FAILED


@contextlib.contextmanager
def _operator(plan: RehearsalPlan, clock: SystemClock, shown_name: str) -> Iterator[Operator]:
    if plan.mode == "auto":
        yield UnattendedOperator(clock, blind=plan.blind)
        return
    fault = "hidden until the end (--blind)" if plan.blind else describe_incident(plan.scenario)
    context = ScreenContext(
        scenario_label=shown_name, fault_label=fault, consumer_pin="", typing=""
    )
    operator = TerminalOperator(clock, context, plan.blind)
    with operator.running():
        yield operator


def _finish(record: RehearsalRecord, plan: RehearsalPlan, reports_root: Path) -> None:
    """Record the rehearsal in the ledger and print its summary."""
    m = record.measures
    try:
        with Ledger(reports_root / "ledger.sqlite3") as ledger:
            ledger.record_rehearsal(
                RehearsalRow(
                    rehearsal_id=record.rehearsal_id,
                    started_at=record.started_at,
                    finished_at=record.finished_at,
                    scenario=record.scenario,
                    backend=record.backend,
                    mode=record.mode,
                    blind=record.blind,
                    verdict=record.verdict,
                    reason=record.reason,
                    release_tag=record.pin.release_tag,
                    time_to_detect_s=m.time_to_detect_s,
                    time_to_restore_s=m.time_to_restore_s,
                    budget_s=m.budget_s,
                    budget_met=m.budget_met,
                    availability=m.availability,
                    out_dir=str(plan.out_dir),
                )
            )
    except DrillError as exc:  # the rehearsal's own files hold everything; say what is missing
        with contextlib.suppress(OSError):
            print(f"mkdrill: the ledger does not list this rehearsal: {exc}", file=sys.stderr)
    diagnosis = record.diagnoses[0].text if record.diagnoses else "none entered"
    lines = [
        f"{record.verdict.value}: {record.reason}",
        f"  root cause (injected): {record.root_cause.description}",
        f"  diagnosis: {diagnosis}",
        f"  time to detect: {detect_label(record)}",
        f"  time to restore: {restore_label(record)}",
        f"  Draft availability: {availability_label(record)}",
    ]
    lines += [
        f"  step {s.number} {s.state}: {s.title}"
        + (f" (verified +{s.verified_s:.1f}s)" if s.verified_s is not None else "")
        for s in record.checklist
    ]
    lines.append(
        f"incident summary: {plan.out_dir / SUMMARY_MD} (also rehearsal.json, report.html)"
    )
    print("\n".join(lines))
