"""`mkdrill bench`: benchmarks side by side with Chaos Toolkit; a table and DIR/bench.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_BENCH_OUT = Path("reports/bench")

QuickOption = Annotated[
    bool,
    typer.Option(
        "--quick",
        help="Fewer repetitions, a 6-drill suite subset and a 4-drill × 3-mutant matrix: a few "
        "minutes, where the full set runs the nightly matrix in both modes.",
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out", help="Folder for bench.json and every run's evidence (runs/).", file_okay=False
    ),
]
OnlyOption = Annotated[
    str | None,
    typer.Option(
        "--only",
        help="Comma-separated sections to run: cli, proxy, peer, restore, probe, suite, mutants "
        "(default all).",
    ),
]
ToxiproxyServerOption = Annotated[
    Path | None,
    typer.Option(
        "--toxiproxy-server",
        help="A real toxiproxy-server measured beside the embedded one (default: one on PATH or "
        "in $TOXIPROXY_SERVER_BIN); only the proxy section uses it.",
        dir_okay=False,
    ),
]
ChangeOption = Annotated[
    str | None,
    typer.Option(
        "--change",
        help="Name of the change this run measures: bench.json's `changes` gets, per goal, its "
        "figure before (from --before) and after (this run), with loads and commits.",
    ),
]
BeforeOption = Annotated[
    Path | None,
    typer.Option(
        "--before",
        help="bench.json measured before the change (default: the one already in --out).",
        dir_okay=False,
    ),
]


def bench(
    quick: QuickOption = False,
    out: OutOption = DEFAULT_BENCH_OUT,
    only: OnlyOption = None,
    toxiproxy_server: ToxiproxyServerOption = None,
    change: ChangeOption = None,
    before: BeforeOption = None,
) -> None:
    """Run every benchmark, print the table, write OUT/bench.json (atomically, after each section)."""
    from tabulate import tabulate

    from runner.bench.results import HEADLINE_KEYS, table_rows
    from runner.bench.run import BenchRequest, parse_sections, run_bench
    from runner.errors import DefinitionError
    from runner.faults.toxiproxy_server import find_toxiproxy_server
    from runner.outputs import check_output_folder

    sections = parse_sections(only)
    check_output_folder(out, "--out")
    if toxiproxy_server is not None and not toxiproxy_server.is_file():
        raise DefinitionError(f"--toxiproxy-server: {toxiproxy_server}: no such file")
    if before is not None and change is None:
        raise DefinitionError("--before: needs --change NAME (the change it is the before of)")
    request = BenchRequest(
        quick=quick,
        out=out,
        sections=sections,
        toxiproxy_server=str(toxiproxy_server) if toxiproxy_server else find_toxiproxy_server(),
        change=change,
        before=before,
    )
    doc = run_bench(request, lambda line: typer.echo(line, err=True))
    typer.echo(
        tabulate(
            table_rows(doc),
            headers=["figure", "median", "min", "max", "n", "note"],
            tablefmt="github",
        )
    )
    typer.echo("")
    for key in HEADLINE_KEYS:
        value = doc.get(key)
        typer.echo(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    for key, goal in (doc.get("goals") or {}).items():
        value = goal.get("value")
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        typer.echo(f"goal {key} {goal['goal']}: {shown} {goal['verdict']} ({goal['reason']})")
    for entry in doc.get("changes") or []:
        if entry.get("name") == change:
            typer.echo(
                f"change {entry['name']}: {entry['figure']} {entry['before']['median']} → "
                f"{entry['after']['median']} {entry['verdict']} ({entry['reason']})"
            )
    typer.echo(f"bench.json: {out / 'bench.json'}")
