"""`mkdrill report show|compare`: re-render a stored run, or say what regressed between two."""

from __future__ import annotations

from pathlib import Path

import typer
from tabulate import tabulate

from runner.record import DrillResult, RunRecord
from runner.reports.compare import DrillComparison, compare_runs
from runner.reports.loader import DEFAULT_REPORTS_DIR, load_report, resolve_report_path
from runner.reports.metrics import fault_p95_latency_ms
from runner.reports.tables import (
    ASSERTION_HEADERS,
    DASH,
    DRILL_HEADERS,
    drill_rows,
    failed_assertion_rows,
    format_ms,
    format_s,
    header_rows,
    verdict_label,
)
from runner.text import shorten_at_word


def _table(headers: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True)


def _load(run: str, reports_dir: Path) -> RunRecord:
    return load_report(resolve_report_path(run, reports_dir))


def render_run(record: RunRecord) -> str:
    """The terminal view of a run: header, drill table, why drills did not pass, failed checks."""
    parts = [tabulate(header_rows(record), tablefmt="plain", disable_numparse=True), ""]
    rows = drill_rows(record)
    parts += [_table(DRILL_HEADERS, rows) if rows else "No drill has finished.", ""]
    unsettled = [
        [d.name, verdict_label(d), shorten_at_word(d.reason)]
        for d in record.drills
        if d.verdict.value != "passed"
    ]
    if unsettled:
        parts += ["Why not passed:", _table(["drill", "verdict", "reason"], unsettled), ""]
    failed = failed_assertion_rows(record)
    if failed:
        parts += ["Failed assertions:", _table(ASSERTION_HEADERS, failed), ""]
    return "\n".join(parts).rstrip() + "\n"


def show(run: str, reports_dir: Path = DEFAULT_REPORTS_DIR) -> None:
    """Re-render a stored run in the terminal."""
    typer.echo(render_run(_load(run, reports_dir)), nl=False)


def _ttr(drill: DrillResult | None) -> str:
    if drill is None:
        return DASH
    if drill.time_to_restore is not None and drill.time_to_restore.total_s is None:
        return "never"
    return format_s(drill.time_to_restore_s)


def _comparison_row(item: DrillComparison) -> list[str]:
    before, after = item.before, item.after

    def verdict(d: DrillResult | None) -> str:
        return d.verdict.value if d else "absent"

    def p95(d: DrillResult | None) -> str:
        return format_ms(fault_p95_latency_ms(d)) if d else DASH

    status = "; ".join(item.regressions) if item.regressed else ("new" if before is None else "ok")
    return [
        item.drill,
        f"{verdict(before)} → {verdict(after)}",
        f"{_ttr(before)} → {_ttr(after)}",
        f"{p95(before)} → {p95(after)}",
        status,
    ]


def compare(
    run_a: str,
    run_b: str,
    reports_dir: Path = DEFAULT_REPORTS_DIR,
) -> None:
    """What regressed from RUN_A to RUN_B; exit 1 when something did, 0 otherwise."""
    before, after = _load(run_a, reports_dir), _load(run_b, reports_dir)
    items = compare_runs(before, after)
    typer.echo(f"{before.run_id} ({before.verdict.value}) → {after.run_id} ({after.verdict.value})")
    headers = ["drill", "verdict", "time to restore", "fault p95 latency", "regression"]
    typer.echo(_table(headers, [_comparison_row(i) for i in items]))
    regressions = sum(len(i.regressions) for i in items)
    drills = sum(1 for i in items if i.regressed)
    if regressions:
        typer.echo(f"\n{regressions} regression(s) in {drills} drill(s)")
        raise typer.Exit(code=1)
    typer.echo("\nno regressions")
