"""`mkdrill history`: per-drill pass rate, time-to-restore trend and flaky drills."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import typer
from tabulate import tabulate

from runner.commands.pins import green_line, short_time
from runner.errors import DefinitionError
from runner.ledger import DEFAULT_LEDGER_PATH, DrillRow, Ledger, RehearsalRow
from runner.record import Verdict
from runner.reports.metrics import percentile
from runner.reports.tables import DASH, format_ms, format_s, reasons_label

SPARK = "▁▂▃▄▅▆▇█"
# Changes of the median time to restore below this are reported as flat.
TREND_FLAT_FRACTION = 0.10
DECIDED = frozenset({Verdict.PASSED, Verdict.FAILED, Verdict.ERROR})


@dataclass(frozen=True)
class DrillTrend:
    """What a window of one drill's results on one backend shows."""

    drill: str
    backend: str
    results: int
    passed: int
    failed: int
    interrupted: int  # interrupted or skipped: neither a pass nor a failure
    pass_rate: float | None
    ttr_p50_s: float | None
    ttr_p95_s: float | None
    ttr_values_oldest_first: list[float]
    flaky: bool

    @property
    def ttr_change(self) -> float | None:
        """Relative change of the median time to restore, newer half of the window over older."""
        values = self.ttr_values_oldest_first
        if len(values) < 2:
            return None
        half = len(values) // 2
        older, newer = median(values[:half]), median(values[-half:])
        return (newer - older) / older if older > 0 else None


def summarise(rows: list[DrillRow]) -> list[DrillTrend]:
    """One trend per drill and backend from `Ledger.drill_history` rows (newest first in each).

    Local and compose restores differ by design (processes vs containers): their times never
    share a trend.
    """
    by_drill: dict[tuple[str, str], list[DrillRow]] = defaultdict(list)
    for row in rows:
        by_drill[(row.drill, row.backend)].append(row)
    trends = []
    for (drill, backend), results in sorted(by_drill.items()):
        decided = [r for r in results if r.verdict in DECIDED]
        passed = sum(1 for r in decided if r.verdict == Verdict.PASSED)
        failed = len(decided) - passed
        ttr = [r.time_to_restore_s for r in reversed(decided) if r.time_to_restore_s is not None]
        trends.append(
            DrillTrend(
                drill=drill,
                backend=backend or DASH,
                results=len(results),
                passed=passed,
                failed=failed,
                interrupted=len(results) - len(decided),
                pass_rate=passed / len(decided) if decided else None,
                ttr_p50_s=percentile(ttr, 0.50),
                ttr_p95_s=percentile(ttr, 0.95),
                ttr_values_oldest_first=ttr,
                flaky=passed > 0 and failed > 0,
            )
        )
    return trends


def sparkline(values: list[float]) -> str:
    """A one-line bar chart of `values`, oldest left."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[round((v - low) / span * (len(SPARK) - 1))] for v in values)


def trend_label(trend: DrillTrend) -> str:
    """Sparkline of the time to restore plus the direction of its median."""
    change = trend.ttr_change
    if not trend.ttr_values_oldest_first:
        return DASH
    if change is None:
        arrow = ""
    elif abs(change) < TREND_FLAT_FRACTION:
        arrow = " flat"
    else:
        arrow = f" {'slower' if change > 0 else 'faster'} {100 * change:+.0f}%"
    return sparkline(trend.ttr_values_oldest_first) + arrow


def _trend_table(trends: list[DrillTrend]) -> str:
    table = [
        [
            t.drill,
            t.backend,
            str(t.passed),
            str(t.failed),
            str(t.interrupted),
            f"{100 * t.pass_rate:.0f}%" if t.pass_rate is not None else DASH,
            format_s(t.ttr_p50_s),
            format_s(t.ttr_p95_s),
            trend_label(t),
            "FLAKY" if t.flaky else "-",
        ]
        for t in trends
    ]
    headers = [
        "drill",
        "backend",
        "passed",
        "failed",
        "interrupted",
        "pass rate",
        "ttr p50",
        "ttr p95",
        "ttr trend",
        "flaky",
    ]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True)


def _results_table(rows: list[DrillRow]) -> str:
    table = [
        [
            short_time(r.started_at),
            r.run_id,
            r.backend or DASH,
            r.suite or DASH,
            r.release_tag,
            r.verdict.value,
            format_s(r.time_to_restore_s),
            format_ms(r.fault_p95_latency_ms),
            reasons_label(r.fallback_reasons),
        ]
        for r in rows
    ]
    headers = [
        "started",
        "run",
        "backend",
        "suite",
        "pin",
        "verdict",
        "ttr",
        "fault p95",
        "fallback reasons",
    ]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True)


def history(drill: str | None = None, last: int = 20, ledger: Path = DEFAULT_LEDGER_PATH) -> None:
    """Per drill: pass rate, time-to-restore p50/p95 and trend, flakiness; the last green pin."""
    if not ledger.exists():
        typer.echo(f"No ledger at {ledger} yet: no run has been recorded.")
        return
    with Ledger(ledger, create=False) as book:
        rows = book.drill_history(drill, last)
        rehearsals = [] if drill else book.rehearsals(last)
        last_green = book.last_green()
        known = sorted({r.drill for r in book.drill_history(None, 1)}) if drill and not rows else []
    if drill and not rows:
        listed = ", ".join(known) if known else "none yet"
        raise DefinitionError(f"--drill {drill}: no results in {ledger}; drills recorded: {listed}")
    trends = summarise(rows)
    if not trends:
        typer.echo(f"No drill results in {ledger} yet.")
    else:
        typer.echo(
            f"Last {last} results per drill and backend ({ledger}); pass rate counts passed and "
            "failed only, interrupted runs are apart:"
        )
        typer.echo(_trend_table(trends))
        flaky = [t.drill for t in trends if t.flaky]
        if flaky:
            typer.echo(
                f"\nflaky (passed and failed within the window): {', '.join(sorted(set(flaky)))}"
            )
        if drill:
            typer.echo("")
            typer.echo(_results_table(rows))
    if rehearsals:
        typer.echo("")
        typer.echo(f"Last {last} rehearsals (times since the incident started):")
        typer.echo(rehearsals_table(rehearsals))
    typer.echo("")
    typer.echo(green_line(last_green))


def rehearsals_table(rows: list[RehearsalRow]) -> str:
    """One line per rehearsal: scenario, how it was run, verdict, time to detect and to restore."""
    table = [
        [
            short_time(r.started_at),
            r.rehearsal_id,
            r.scenario,
            r.backend,
            r.mode + (", blind" if r.blind else ""),
            r.verdict.value,
            format_s(r.time_to_detect_s),
            format_s(r.time_to_restore_s),
            f"{r.budget_s:g} s",
            DASH if r.budget_met is None else ("met" if r.budget_met else "MISSED"),
            f"{100 * r.availability:.1f}%",
        ]
        for r in rows
    ]
    headers = [
        "started",
        "rehearsal",
        "scenario",
        "backend",
        "mode",
        "verdict",
        "detect",
        "restore",
        "budget",
        "budget met",
        "availability",
    ]
    return tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True)
