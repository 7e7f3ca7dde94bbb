"""summary.md: GitHub-flavoured tables fit for a pull-request comment or an incident ticket."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate

from runner.record import RunRecord, Verdict
from runner.reports.tables import (
    ASSERTION_HEADERS,
    DRILL_HEADERS,
    drill_rows,
    failed_assertion_rows,
    header_rows,
    verdict_label,
)
from runner.text import shorten_at_word

_VERDICT_MARK = {
    Verdict.PASSED: "✅",
    Verdict.FAILED: "❌",
    Verdict.ERROR: "⚠️",
    Verdict.INTERRUPTED: "⏹️",
    Verdict.SKIPPED: "⏭️",
    Verdict.NOT_APPLICABLE: "🚫",
}


def _cell(text: str) -> str:
    # A bare pipe ends a GitHub table cell and a newline ends the row.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return tabulate(
        [[_cell(c) for c in row] for row in rows],
        headers=[_cell(h) for h in headers],
        tablefmt="github",
        disable_numparse=True,
    )


def render_markdown(record: RunRecord) -> str:
    """The summary.md text."""
    mark = _VERDICT_MARK.get(record.verdict, "")
    parts = [
        f"## mkdrill run `{record.run_id}`: {mark} {record.verdict.value}".replace("  ", " "),
        "",
    ]
    parts += [_table(("field", "value"), header_rows(record)), ""]
    rows = drill_rows(record)
    if rows:
        parts += ["### Drills", "", _table(DRILL_HEADERS, rows), ""]
    else:
        parts += ["No drill has finished yet.", ""]
    unsettled = [
        [d.name, verdict_label(d), shorten_at_word(d.reason)]
        for d in record.drills
        if d.verdict != Verdict.PASSED
    ]
    if unsettled:
        parts += ["### Why not passed", "", _table(("drill", "verdict", "reason"), unsettled), ""]
    expected_red = [d for d in record.drills if d.expected_red is not None]
    if expected_red:
        parts += ["### Expected red (known findings, red by design)", ""]
        parts += [f"- **{d.name}**: {d.expected_red}" for d in expected_red]
        parts += [""]
    broken = [
        [
            d.name,
            "repaired" if d.path_check.repaired else "not repaired: run stopped",
            "; ".join(f"{r.action} ({r.seconds:.1f} s)" for r in d.path_check.repairs) or "-",
            shorten_at_word(d.path_check.problem or ""),
        ]
        for d in record.drills
        if d.path_check is not None and not d.path_check.healthy
    ]
    if broken:
        headers = ("left broken by", "path", "repairs", "evidence")
        parts += ["### Path checked after each drill", "", _table(headers, broken), ""]
    failed = failed_assertion_rows(record)
    if failed:
        parts += ["### Failed assertions", "", _table(ASSERTION_HEADERS, failed), ""]
    return "\n".join(parts)
