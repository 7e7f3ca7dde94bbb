"""report.html: one self-contained page, summary table plus a latency timeline per drill."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from runner.record import DrillResult, RunRecord, Verdict
from runner.reports.palette import ENRICHED, NOT_ANSWERED, status_colour
from runner.reports.tables import (
    ASSERTION_HEADERS,
    DASH,
    DRILL_HEADERS,
    consumer_label,
    drill_row,
    failed_assertion_rows,
    format_ms,
    format_s,
    header_rows,
    reasons_label,
)
from runner.reports.timeline import render_timeline, status_counts
from runner.text import shorten_at_word

PAGE_STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1d2330; background: #f5f6f8; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; color: #444b5a; }
section, .card { background: #fff; border: 1px solid #dde1e8; border-radius: 8px;
  padding: 16px 18px; margin: 16px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e6e9ef;
  vertical-align: top; }
th { background: #f0f2f6; font-weight: 600; }
table.meta th { width: 170px; background: none; color: #5a6272; font-weight: 500; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600;
  font-size: 12px; color: #fff; text-transform: uppercase; letter-spacing: .03em;
  vertical-align: 2px; }
.passed { background: #2e8b47; } .failed { background: #c62828; } .error { background: #b8620b; }
.interrupted { background: #6d4fb3; } .skipped, .not_applicable { background: #7b8494; }
.reason { color: #444b5a; margin: 4px 0 10px; display: block; }
details.drill { background: #fff; border: 1px solid #dde1e8; border-radius: 8px;
  padding: 12px 18px; margin: 16px 0; }
details.drill > summary { cursor: pointer; list-style-position: outside; }
details.drill > summary h2 { display: inline; }
details.drill:not([open]) > summary .reason { margin-bottom: 0; }
.expected-red { background: #8a6d00; }
.expected-red-why { color: #6b5500; margin: 4px 0; }
.consumer { color: #444b5a; margin: 4px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 6px 0 0; font-size: 12px;
  color: #333; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.dot { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
.swatch { width: 16px; height: 10px; display: inline-block; background: rgba(225, 87, 89, .16);
  border: 1px solid rgba(225, 87, 89, .5); }
.dash { width: 18px; border-top: 2px dashed #c0392b; display: inline-block; }
.vline { width: 2px; height: 12px; background: #5b3fa8; display: inline-block; }
svg.timeline { width: 100%; height: auto; display: block; }
svg .plot { fill: #fff; stroke: #c9ced8; }
svg .grid { stroke: #e3e6ec; } svg .grid.minor { stroke: #f1f3f6; }
svg .axis { stroke: #8a93a3; }
svg text { font-family: system-ui, "DejaVu Sans", sans-serif; }
svg .tick { font-size: 11px; fill: #5a6272; } svg .label { font-size: 12px; fill: #444b5a; }
svg .phase.p0 { fill: #e8ebf1; } svg .phase.p1 { fill: #d7dce6; }
svg .phase-label { font-size: 10px; fill: #3d4454; }
svg .fault { fill: rgba(225, 87, 89, .13); stroke: rgba(225, 87, 89, .45); stroke-dasharray: 4 3; }
svg .fault-label { font-size: 11px; fill: #a33d3d; font-weight: 600; }
svg .bound { stroke: #c0392b; stroke-width: 1.5; stroke-dasharray: 7 5; }
svg .bound-label { font-size: 11px; fill: #c0392b; font-weight: 600; }
svg .restore { stroke: #5b3fa8; stroke-width: 1.6; }
svg .milestone { stroke: #5b3fa8; stroke-width: 1; stroke-dasharray: 3 3; }
svg .operator { stroke: #0b7a75; stroke-width: 1.6; stroke-dasharray: 6 2; }
svg .ms-label { font-size: 10px; fill: #5b3fa8; font-weight: 600; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; }
svg circle { fill-opacity: .85; }
svg g.miss circle { stroke: #000; stroke-width: .8; fill-opacity: 1; }
.ok { color: #2e8b47; font-weight: 600; } .bad { color: #c62828; font-weight: 600; }
.muted { color: #7b8494; }
"""


def _anchor(name: str) -> str:
    return "drill-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def _badge(verdict: Verdict) -> str:
    return f'<span class="badge {verdict.value}">{verdict.value}</span>'


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], raw: frozenset[int] = frozenset()
) -> str:
    """An HTML table; cells in the `raw` columns are markup already, the rest is escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = [c if i in raw else escape(c) for i, c in enumerate(row)]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _summary(record: RunRecord) -> str:
    rows = []
    for drill in record.drills:
        row = drill_row(drill)
        link = f'<a href="#{_anchor(drill.name)}">{escape(drill.name)}</a>'
        rows.append([link, _badge(drill.verdict) + _expected_red(drill), *row[2:]])
    if not rows:
        return '<p class="muted">No drill has finished yet.</p>'
    return _table(DRILL_HEADERS, rows, raw=frozenset({0, 1}))


def _legend(drill: DrillResult) -> str:
    counts = status_counts(drill)
    order = [ENRICHED] if ENRICHED in counts else []
    order += sorted(
        (s for s in counts if s not in (ENRICHED, NOT_ANSWERED)), key=lambda s: (-counts[s], s)
    )
    order += [NOT_ANSWERED] if NOT_ANSWERED in counts else []
    items = [f"<span>{sum(counts.values())} Drafts:</span>"]
    items += [
        f'<span><i class="dot" style="background:{status_colour(s)}"></i>'
        f"{escape(s)} ({counts[s]})</span>"
        for s in order
    ]
    if drill.fault_window:
        items.append('<span><i class="swatch"></i>fault window</span>')
    items.append('<span><i class="dash"></i>latency bound</span>')
    if drill.time_to_restore:
        items.append('<span><i class="vline"></i>restore start and milestones</span>')
    return f'<div class="legend">{"".join(items)}</div>'


def _phase_table(drill: DrillResult) -> str:
    rows = []
    for summary in drill.probe:
        latency = summary.latency
        rows.append(
            [
                summary.phase.value,
                str(summary.samples),
                f"{100.0 * summary.availability:.1f}%",
                str(summary.enriched),
                format_ms(latency.p50_ms) if latency else DASH,
                format_ms(latency.p95_ms) if latency else DASH,
                format_ms(latency.max_ms) if latency else DASH,
                reasons_label(summary.fallback_reasons),
                reasons_label(summary.machine_error_codes),
            ]
        )
    if not rows:
        return ""
    total = sum(summary.samples for summary in drill.probe)
    rows.append(["all phases", str(total), *[""] * 7])
    headers = (
        "phase",
        "samples",
        "answered",
        "enriched",
        "p50",
        "p95",
        "max",
        "fallback reasons",
        "error codes",
    )
    return "<h3>Probe by phase</h3>" + _table(headers, rows)


def _restore_table(drill: DrillResult) -> str:
    ttr = drill.time_to_restore
    if ttr is None:
        return ""
    rows = [
        [
            m.name.value,
            f"+{format_s(m.at_s)}" if m.at_s is not None else "never",
            format_s(m.resolution_s),
        ]
        for m in ttr.milestones
    ]
    verdict = (
        '<span class="ok">within budget</span>'
        if ttr.within_budget
        else '<span class="bad">over budget</span>'
    )
    total = format_s(ttr.total_s) if ttr.total_s is not None else "never"
    if ttr.total_s is not None and ttr.resolution_s is not None:
        total += f" (resolution {format_s(ttr.resolution_s)})"
    return (
        f"<h3>Restore ({escape(ttr.kind)} to {escape(ttr.target_release)}): {escape(total)} "
        f"of {escape(format_s(ttr.budget_s))}, {verdict}</h3>"
        + _table(("milestone", "after restore start", "resolution"), rows)
    )


def _assertion_table(drill: DrillResult) -> str:
    if not drill.assertions:
        return ""
    rows = [
        [
            '<span class="ok">pass</span>' if a.passed else '<span class="bad">FAIL</span>',
            a.name,
            a.phase.value,
            a.expected,
            a.observed,
        ]
        for a in drill.assertions
    ]
    return "<h3>Assertions</h3>" + _table(
        ("", "assertion", "phase", "expected", "observed"), rows, frozenset({0})
    )


def _chart(drill: DrillResult) -> str:
    if not drill.samples:
        return '<p class="muted">No Draft was sampled in this drill.</p>'
    return render_timeline(drill) + _legend(drill)


def _expected_red(drill: DrillResult) -> str:
    return (
        ""
        if drill.expected_red is None
        else ' <span class="badge expected-red">expected red</span>'
    )


def _drill_section(drill: DrillResult) -> str:
    """One drill: a <details> that passing drills keep closed (open on click); the others open."""
    is_open = " open" if drill.verdict is not Verdict.PASSED else ""
    why = (
        f'<p class="expected-red-why">Red by design: {escape(drill.expected_red)}</p>'
        if drill.expected_red is not None
        else ""
    )
    return (
        f'<details class="drill" id="{_anchor(drill.name)}"{is_open}>'
        f"<summary><h2>{escape(drill.name)} {_badge(drill.verdict)}{_expected_red(drill)}</h2>"
        f'<span class="reason" title="{escape(drill.reason)}">{escape(shorten_at_word(drill.reason))}</span>'
        "</summary>"
        f"{why}"
        f'<p class="muted">{escape(drill.description)}</p>'
        f'<p class="consumer">consumer: {escape(consumer_label(drill))}</p>'
        f"{_chart(drill)}"
        f"{_restore_table(drill)}{_assertion_table(drill)}{_phase_table(drill)}</details>"
    )


def render_html(record: RunRecord) -> str:
    """The report.html text."""
    meta = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in header_rows(record)
    )
    failed = failed_assertion_rows(record)
    failed_html = (
        f"<section><h2>Failed assertions</h2>{_table(ASSERTION_HEADERS, failed)}</section>"
        if failed
        else ""
    )
    title = f"mkdrill {record.run_id}: {record.verdict.value}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{PAGE_STYLE}</style></head><body><main>"
        f"<h1>mkdrill run {escape(record.run_id)} {_badge(record.verdict)}</h1>"
        f'<div class="card"><table class="meta">{meta}</table></div>'
        f"<section><h2>Drills</h2>{_summary(record)}</section>{failed_html}"
        + "".join(_drill_section(drill) for drill in record.drills)
        + "</main></body></html>\n"
    )
