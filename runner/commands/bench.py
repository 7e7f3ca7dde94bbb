"""`mkdrill bench`: benchmarks side by side with Chaos Toolkit; a table and DIR/bench.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_BENCH_OUT = Path("reports/bench")

QuickOption = Annotated[
    bool,
    typer.Option(
        "--quick", help="Fewer repetitions and a 6-drill suite subset: a few minutes, not ~15."
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out", help="Folder for bench.json and every run's evidence (runs/).", file_okay=False
    ),
]


def bench(quick: QuickOption = False, out: OutOption = DEFAULT_BENCH_OUT) -> None:
    """Run every benchmark, print the table, write OUT/bench.json (atomically, after each section)."""
    from tabulate import tabulate

    from runner.bench.results import HEADLINE_KEYS, table_rows
    from runner.bench.run import run_bench
    from runner.outputs import check_output_folder

    check_output_folder(out, "--out")
    doc = run_bench(quick, out, lambda line: typer.echo(line, err=True))
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
    typer.echo(f"bench.json: {out / 'bench.json'}")
