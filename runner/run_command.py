"""`mkdrill run`: plan, lock, environment, engine, reports, ledger — and the exit code."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from runner.backends.base import Environment
from runner.backends.listen_address import ensure_free, parse_listen
from runner.clock import SystemClock
from runner.contract import RELEASES
from runner.drill_run import drill_timeout_ms
from runner.engine import Driver, Engine, RunPlan, pin_info
from runner.errors import EXIT_DRILL_FAILED, EXIT_PASSED, DrillError, Interrupted
from runner.outputs import check_output_folder
from runner.plan import RunRequest, build_plan, new_run_id
from runner.progress import Progress
from runner.record import RunRecord, Verdict
from runner.reports.metrics import fault_p95_latency_ms
from runner.reports.tables import format_ms, format_s, verdict_label
from runner.run_state import environment_lock, state_dir
from runner.signals import interrupts_raise
from runner.spec import describe_fault, number

__all__ = ["DRIVEN", "DrivenRun", "RunRequest", "execute", "plan_run"]

log = logging.getLogger(__name__)


@dataclass
class DrivenRun:
    """A driver of the run's drills (the pytest plugin); `execute` tells it where the reports go."""

    drive: Driver
    out_dir: Path | None = None


DRIVEN: ContextVar[DrivenRun | None] = ContextVar("mkdrill_driven_run", default=None)
"""Set by a driver around a `mkdrill run`: the run keeps lock, environment, reports and ledger."""


def make_environment(
    backend: str,
    run_id: str,
    reports_root: Path,
    toxiproxy_url: str | None,
    memorykernel_image: str | None,
    memorykernel_bins: dict[str, Path] | None = None,
    toxiproxy_image: str | None = None,
    proxy_listen: str | None = None,
) -> Environment:
    """The environment of a run (or a rehearsal) on `backend`, its resources named by `run_id`;
    `proxy_listen` fixes where the MemoryKernel proxy listens (default a free loopback port)."""
    if backend == "compose":
        from runner.backends.compose import ComposeEnvironment

        return ComposeEnvironment(
            run_id=run_id,
            memorykernel_image=memorykernel_image,
            toxiproxy_image=toxiproxy_image,
            proxy_listen=proxy_listen,
        )
    from runner.backends.local import LocalEnvironment
    from runner.backends.memorykernel_local import MemoryKernelBinaries

    return LocalEnvironment(
        state_dir(reports_root),
        run_id,
        toxiproxy_url=toxiproxy_url,
        memorykernel=MemoryKernelBinaries(memorykernel_bins or {}),
        proxy_listen=proxy_listen,
    )


def print_plan(plan: RunPlan) -> None:
    """The dry-run output: what would run, against which pin, with which consumer timeout."""
    pin = plan.consumer_pin
    settings = plan.drill_settings
    source = (
        "pin default_timeout_ms" if settings.consumer_timeout_from_pin else "--consumer-timeout-ms"
    )
    print(
        f"plan {plan.run_id}: backend {plan.backend}, suite {plan.suite or '-'}, out {plan.out_dir}"
    )
    print(
        f"consumer pin {pin.release_tag} @ {pin.commit_sha[:12]} "
        f"({pin.expected_service_contract_version}/{pin.expected_api_contract_version}) from "
        f"{pin.source}; timeout {settings.consumer_timeout_ms} ms ({source}); ask body "
        + (plan.ask_body if plan.under_test.is_reference else "your consumer's own")
    )
    print(
        f"MemoryKernel {plan.releases.baseline.release_tag} (baseline), "
        f"candidate {plan.releases.candidate}"
    )
    target = plan.rollback_target
    if target is not None:
        repin = " (consumer re-pinned)" if target.crosses_contract(pin) else ""
        print(f"rollback to last green: {target.trio.describe()}{repin}; {target.provenance}")
    # A consumer mkdrill cannot set variables in keeps its own timeout: the run only assumes it.
    assumed = "" if plan.under_test.sets_env else " (assumed: mkdrill cannot set it there)"
    print(
        f"consumer under test: {plan.under_test.describe()}, timeout "
        f"{plan.drill_settings.consumer_timeout_ms} ms{assumed}, MemoryKernel proxy at "
        f"{plan.proxy_listen or 'a free loopback port'}"
    )
    rows = [
        (
            d.drill.name,
            describe_fault(d.drill.fault),
            f"{number(d.drill.window_s):g}s",
            f"{drill_timeout_ms(d, settings)} ms",
            d.drill.recover.kind,
            plan.not_applicable(d.drill) or "",
        )
        for d in plan.drills
    ]
    print(
        tabulate(rows, headers=["drill", "fault", "window", "timeout", "recover", "not applicable"])
    )


def print_summary(record: RunRecord) -> None:
    """The final table: judged fallback reasons apart from the rest, the reports' own p95."""
    rows = [
        (
            d.name,
            verdict_label(d),
            _counts(d.fallback_reasons),
            _counts(d.other_fallback_reasons),
            format_s(d.time_to_restore_s) if d.time_to_restore_s is not None else "-",
            format_ms(p95) if (p95 := fault_p95_latency_ms(d)) is not None else "-",
        )
        for d in record.drills
    ]
    headers = ["drill", "verdict", "fallback reasons", "other fallbacks", "restore", "p95 (fault)"]
    print(tabulate(rows, headers=headers, disable_numparse=True))
    print(f"{record.verdict.value}: {record.reason}")
    known = [
        d.name for d in record.drills if d.expected_red is not None and d.verdict.value != "passed"
    ]
    if known:
        print(f"expected red (known findings, see summary.md): {', '.join(known)}")


def _counts(reasons: dict[str, int]) -> str:
    return ",".join(f"{k}×{v}" for k, v in sorted(reasons.items())) or "-"


def plan_run(request: RunRequest, run_id: str) -> RunPlan:
    """The plan of a request: its output folder checked, the ledger read (never written)."""
    from runner.ledger import Ledger

    if request.out is not None:
        check_output_folder(request.out, "--out")
    else:
        check_output_folder(request.reports_root, "reports folder")
    ledger_path = request.reports_root / "ledger.sqlite3"
    backend_releases = set(RELEASES) if request.backend == "local" else None
    if ledger_path.exists():
        with Ledger(ledger_path) as ledger:
            return build_plan(request, run_id, ledger, backend_releases)
    return build_plan(request, run_id, None, backend_releases)


def execute(
    request: RunRequest,
    *,
    dry_run: bool,
    toxiproxy_url: str | None,
    memorykernel_image: str | None,
    toxiproxy_image: str | None = None,
) -> int:
    """Run the request; return the exit code (errors propagate as DrillError with theirs)."""
    from runner.ledger import Ledger

    run_id = new_run_id()
    plan = plan_run(request, run_id)
    ledger_path = request.reports_root / "ledger.sqlite3"
    if dry_run:
        print_plan(plan)
        return EXIT_PASSED
    clock = SystemClock()
    with environment_lock(request.backend, request.reports_root, run_id):
        if plan.proxy_listen:
            ensure_free(
                parse_listen(plan.proxy_listen),
                "--proxy-listen"
                if request.proxy_listen
                else "the MemoryKernel proxy (your consumer's pin's default_base_url)",
            )
        with Ledger(ledger_path) as ledger:
            ledger.ensure_seeded(pin_info(plan.consumer_pin, plan.consumer_trio))
        env = make_environment(
            plan.backend,
            plan.run_id,
            request.reports_root,
            toxiproxy_url,
            memorykernel_image,
            request.memorykernel_bins,
            toxiproxy_image,
            plan.proxy_listen,
        )
        progress = Progress(plan.out_dir)
        from runner.probes.seed import seed_policy

        engine = Engine(plan, env, clock, progress, seed=seed_policy)
        driven = DRIVEN.get()
        if driven is not None:
            driven.out_dir = plan.out_dir
        try:
            with interrupts_raise(run_id):
                record = engine.run(driven.drive if driven is not None else None)
        except Interrupted:
            print(f"interrupted: cleanup ran; report in {plan.out_dir}", file=sys.stderr)
            raise
        except DrillError:
            print(f"report in {plan.out_dir}", file=sys.stderr)
            raise
        finally:
            final = engine.last_record
            if final is not None:
                with Ledger(ledger_path) as ledger:
                    ledger.record_run(final, plan.out_dir)
    if driven is None:  # a driver (pytest) reports each drill itself
        print_summary(record)
        print(f"reports: {plan.out_dir}")
    return EXIT_PASSED if record.verdict is Verdict.PASSED else EXIT_DRILL_FAILED
