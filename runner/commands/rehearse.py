"""`mkdrill rehearse [SCENARIO] [--blind] [--auto] [--out DIR]`: parse, delegate, map to an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from runner.commands.options import (
    DEFAULT_RATE_HZ,
    Backend,
    ConsumerTimeoutOption,
    MemoryKernelImageOption,
    ToxiproxyImageBriefOption,
    ToxiproxyUrlOption,
    backend_option,
    compose_only_image,
    out_option,
    rate_option,
    reports_root,
)


def rehearse(
    ctx: typer.Context,
    scenario: Annotated[
        str | None,
        typer.Argument(
            metavar="SCENARIO",
            help="A scenario name (see --list) or file; default: one of the catalog at random.",
        ),
    ] = None,
    blind: Annotated[
        bool,
        typer.Option(
            "--blind",
            help="Hide which fault was injected (and, if picked at random, the scenario) until the end.",
        ),
    ] = False,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="mkdrill works every step itself (nightly jobs, tests); no terminal needed.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        out_option(
            "Folder for rehearsal.json, summary.md, report.html; default reports/<id>. The ledger lives in its parent."
        ),
    ] = None,
    backend: Annotated[Backend, backend_option("local (processes) or compose.")] = Backend.local,
    pin: Annotated[
        Path | None,
        typer.Option(
            envvar="MKDRILL_PIN",
            help="AssistSupport pin file (its matrix and manifest beside it); default: the shipped one.",
        ),
    ] = None,
    scenarios_dir: Annotated[
        Path | None,
        typer.Option(envvar="MKDRILL_SCENARIOS_DIR", help="Scenario folder; default rehearsals/."),
    ] = None,
    consumer_timeout_ms: ConsumerTimeoutOption = None,
    rate: Annotated[
        float,
        rate_option(
            "Draft probe samples per second (a scenario's surge_rate_hz raises it during the incident)."
        ),
    ] = DEFAULT_RATE_HZ,
    idle_limit: Annotated[
        float | None,
        typer.Option(
            "--idle-limit",
            min=5,
            max=3600,
            help="Seconds without a key before an interactive rehearsal ends, interrupted; default: the scenario's (300).",
        ),
    ] = None,
    list_scenarios: Annotated[
        bool, typer.Option("--list", help="List the scenarios and exit.")
    ] = False,
    toxiproxy: ToxiproxyUrlOption = None,
    memorykernel_image: MemoryKernelImageOption = None,
    toxiproxy_image: ToxiproxyImageBriefOption = None,
) -> None:
    """Rehearse an incident: faults injected, the rollback checklist worked through (by you, or --auto), timed."""
    from runner.rehearsal.catalog import default_scenarios_dir
    from runner.rehearsal.command import RehearseRequest, execute

    if list_scenarios:
        _list(scenarios_dir or default_scenarios_dir())
        return
    request = RehearseRequest(
        scenario=scenario,
        blind=blind,
        auto=auto,
        out=out,
        reports_root=reports_root(out),
        backend=backend.value,
        pin=pin,
        scenarios_dir=scenarios_dir,
        consumer_timeout_ms=consumer_timeout_ms,
        rate_hz=rate,
        idle_limit_s=idle_limit,
        toxiproxy_url=toxiproxy,
        memorykernel_image=memorykernel_image,
        toxiproxy_image=compose_only_image(ctx, backend, toxiproxy_image),
    )
    raise typer.Exit(execute(request, sys.stdin.isatty(), sys.stdout.isatty()))


def _list(folder: Path) -> None:
    from tabulate import tabulate

    from runner.rehearsal.catalog import load_scenarios
    from runner.rehearsal.scenario import describe_incident

    rows = [
        (
            s.scenario.name,
            describe_incident(s.scenario),
            f"{s.scenario.budget_s:g} s",
            ", ".join(step.step.value for step in s.scenario.checklist),
        )
        for s in load_scenarios([folder])
    ]
    typer.echo(tabulate(rows, headers=["scenario", "incident", "budget", "checklist"]))
