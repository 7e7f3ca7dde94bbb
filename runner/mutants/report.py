"""The mutants run's record and its reports: report.json (schema-versioned) and report.html.

Both are pure functions of the record and are rewritten after every drill run, so a run that is
interrupted or breaks its environment leaves the matrix as far as it got.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from runner.mutants.matrix import (
    HEALTHY,
    SCHEMA_VERSION,
    Cell,
    DrillRow,
    DrillStanding,
    MatrixVerdict,
    Mode,
    MutantRow,
    is_catch,
)
from runner.record import Verdict
from runner.reports.atomic import write_atomic

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
SCHEMA = "mkdrill-mutants"


class MutantsRecord(BaseModel):
    """Everything a mutants run found: settings, every drill run, the matrix and its verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: str = Field(default=SCHEMA, alias="schema", serialization_alias="schema")
    schema_version: str = SCHEMA_VERSION
    run_id: str
    tool_version: str
    started_at: str
    finished_at: str | None
    state: str = Field(description="running, finished, interrupted or error")
    error: str | None = None
    backend: str
    suite: str | None
    mode: Mode
    pin: str
    consumer_timeout_ms: int
    timeout_source: str
    learned_from: str | None
    healthy_reruns: list[str] = Field(
        description="drills red once against the healthy consumer and run again (the later run counts)"
    )
    wall_s: float
    phases_s: dict[str, float] = Field(description="healthy and mutants: wall time of each part")
    verdict: MatrixVerdict
    mutants: list[MutantRow]
    drills: list[DrillRow]
    cells: list[Cell] = Field(description="every drill run, healthy consumer first, in run order")


def render_json(record: MutantsRecord) -> str:
    """report.json."""
    return json.dumps(record.model_dump(mode="json", by_alias=True), indent=2) + "\n"


def write_reports(record: MutantsRecord, out_dir: Path) -> list[Path]:
    """Write report.json and report.html into `out_dir` (each replaced atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((REPORT_JSON, render_json(record)), (REPORT_HTML, render_html(record))):
        path = out_dir / name
        write_atomic(path, text)
        written.append(path)
    return written


_STYLE = """
body { font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; color: #1d2330; background: #f5f6f8;
  margin: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 17px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 14px 18px;
  margin: 16px 0; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e6e9ef; vertical-align: top; }
th { background: #f0f2f6; font-weight: 600; }
table.grid td, table.grid th.m { text-align: center; white-space: nowrap; }
table.grid th.m { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: 500; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600;
  font-size: 12px; color: #fff; text-transform: uppercase; }
.passed { background: #2e8b47; } .failed { background: #c62828; }
td.caught { background: #d8f0dd; color: #1b5e2a; font-weight: 600; }
td.missed { background: #fbe9e9; color: #8a1f1f; }
td.notrun { color: #9aa1ad; } td.error { background: #fdebd3; color: #8a4b08; }
td.survived, td.no-teeth, td.red-on-healthy { color: #c62828; font-weight: 600; }
.muted { color: #5a6272; }
"""

_MARK = {"caught": "✔", "missed": "·", "error": "!", "notrun": ""}


def _cell_class(cell: Cell | None, healthy: Cell | None) -> str:
    if cell is None:
        return "notrun"
    if cell.verdict is Verdict.ERROR:
        return "error"
    return "caught" if is_catch(cell, healthy) else "missed"


def _grid(record: MutantsRecord) -> str:
    last = {(c.drill, c.defect): c for c in record.cells}
    names = [m.name for m in record.mutants]
    head = "".join(f'<th class="m">{escape(n)}</th>' for n in names)
    rows = []
    for drill in record.drills:
        healthy = last.get((drill.name, HEALTHY))
        tds = []
        for name in names:
            cell = last.get((drill.name, name))
            kind = _cell_class(cell, healthy)
            title = (
                f"{cell.red[0].name}: {cell.red[0].observed}"
                if cell is not None and cell.red
                else (cell.reason if cell is not None else "not run")
            )
            tds.append(f'<td class="{kind}" title="{escape(title)}">{_MARK[kind]}</td>')
        standing = drill.standing.value
        rows.append(
            f'<tr><th>{escape(drill.name)}</th><td class="{standing}">{escape(standing)}</td>'
            + "".join(tds)
            + "</tr>"
        )
    return (
        '<table class="grid"><tr><th>drill</th><th>standing</th>'
        + head
        + "</tr>"
        + "".join(rows)
        + "</table>"
        + '<p class="muted">✔ caught (red against the mutant, green against the healthy consumer) · '
        "missed (green against the mutant) ! error; empty: not run (quick mode stops early)</p>"
    )


def _mutant_table(rows: list[MutantRow]) -> str:
    body = "".join(
        "<tr>"
        f"<th>{escape(r.name)}</th><td>{escape(r.does)}<br><span class='muted'>"
        f"{escape(r.bug_class)}</span></td>"
        + (
            f'<td class="survived">survived ({len(r.tried)} drills tried)</td>'
            if r.survived
            else "<td>"
            + "<br>".join(
                f"{escape(c.drill)} <span class='muted'>({escape(', '.join(c.assertions))})</span>"
                for c in r.caught_by
            )
            + "</td>"
        )
        + "</tr>"
        for r in rows
    )
    return (
        "<table><tr><th>mutant</th><th>what it does / the bug class</th>"
        f"<th>caught by (assertions that went red)</th></tr>{body}</table>"
    )


def _drill_table(rows: list[DrillRow]) -> str:
    def catches(row: DrillRow) -> str:
        if row.standing is DrillStanding.CONTROL:
            return f"control: {escape(row.control or '')}"
        return escape(", ".join(row.catches)) or "-"

    body = "".join(
        f"<tr><th>{escape(r.name)}</th><td class='{r.standing.value}'>{r.standing.value}</td>"
        f"<td>{escape(r.healthy.value if r.healthy else '-')}</td><td>{catches(r)}</td></tr>"
        for r in rows
    )
    return (
        "<table><tr><th>drill</th><th>standing</th><th>healthy consumer</th>"
        f"<th>mutants it catches</th></tr>{body}</table>"
    )


def render_html(record: MutantsRecord) -> str:
    """report.html: the verdict, the grid, then per mutant and per drill."""
    verdict = "passed" if record.verdict.passed else "failed"
    meta = (
        f"run {escape(record.run_id)} · {escape(record.mode)} mode · backend "
        f"{escape(record.backend)} · suite {escape(record.suite or '-')} · pin "
        f"{escape(record.pin)} · consumer timeout {record.consumer_timeout_ms} ms "
        f"({escape(record.timeout_source)}) · {record.wall_s:.0f} s · {escape(record.state)}"
    )
    error = f"<p>{escape(record.error)}</p>" if record.error else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>mkdrill mutants {escape(record.run_id)}</title><style>{_STYLE}</style></head>"
        "<body><main>"
        f"<h1>mkdrill mutants <span class='badge {verdict}'>{verdict}</span></h1>"
        f"<p class='muted'>{meta}</p><p>{escape(record.verdict.reason)}</p>{error}"
        f"<section><h2>Sensitivity matrix</h2>{_grid(record)}</section>"
        f"<section><h2>Mutants</h2>{_mutant_table(record.mutants)}</section>"
        f"<section><h2>Drills</h2>{_drill_table(record.drills)}</section>"
        "</main></body></html>\n"
    )
