"""The incident summary: rehearsal.json, summary.md and report.html, pure functions of the record.

Written when the rehearsal starts (marked interrupted until it ends, so a killed session leaves a
summary that says so), whenever the summary step publishes, and at the end.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from tabulate import tabulate

from runner.record import (
    DrillResult,
    Milestone,
    MilestoneName,
    Phase,
    PhaseSpan,
    TimeToRestore,
    Verdict,
)
from runner.rehearsal.record import RehearsalRecord
from runner.reports.atomic import sweep_stale_tmp, write_atomic
from runner.reports.html import PAGE_STYLE
from runner.reports.redact import Redactor
from runner.reports.tables import DASH, format_s
from runner.reports.timeline import render_timeline

REHEARSAL_JSON = "rehearsal.json"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
FILES = (REHEARSAL_JSON, SUMMARY_MD, REPORT_HTML)
_MARK = {Verdict.PASSED: "✅", Verdict.FAILED: "❌", Verdict.ERROR: "⚠️", Verdict.INTERRUPTED: "⏹️"}
FIX_KINDS = ("remove_faults", "revert_trio")
MARKED_EVENTS = {
    "diagnosis": "diagnosis",
    "note": "note",
    "prevention": "prevention",
    "step_requested": "asked",
    "step_verified": "verified",
    "step_failed": "failed",
}


def write_rehearsal_reports(
    record: RehearsalRecord, out_dir: Path, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """Render every file of the rehearsal into `out_dir`, each replaced atomically; secrets masked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_tmp(out_dir, list(FILES))
    data = record.model_dump(mode="json")
    redactor = Redactor.for_report(data, environ)
    written = []
    for name, text in (
        (REHEARSAL_JSON, json.dumps(data, indent=1, ensure_ascii=False) + "\n"),
        (SUMMARY_MD, render_summary(record)),
        (REPORT_HTML, render_html(record)),
    ):
        path = out_dir / name
        write_atomic(path, redactor.redact_text(text))
        written.append(path)
    return written


def _s(value: float | None) -> str:
    return f"+{value:.1f}s" if value is not None else DASH


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return tabulate(
        [[_cell(c) for c in r] for r in rows],
        headers=list(headers),
        tablefmt="github",
        disable_numparse=True,
    )


def restore_label(record: RehearsalRecord) -> str:
    """`5.1 s of the 120 s budget: met`, or why there is no time."""
    m = record.measures
    if m.time_to_restore_s is None:
        return f"not restored (budget {m.budget_s:g} s)"
    verdict = "met" if m.budget_met else "MISSED"
    return f"{format_s(m.time_to_restore_s)} of the {m.budget_s:g} s budget: {verdict}"


def _with_resolution(value: float | None, resolution: float | None) -> str:
    """A restore time with the restore clock's resolution beside it, when it has one."""
    if value is None or resolution is None:
        return format_s(value)
    return f"{format_s(value)} (resolution {format_s(resolution)})"


def detect_label(record: RehearsalRecord) -> str:
    """`2.9 s (first fallback +0.3s → diagnosis +3.2s)`."""
    m = record.measures
    if m.time_to_detect_s is None:
        return f"{DASH} (first fallback {_s(m.first_fallback_s)}, diagnosis {_s(m.diagnosis_s)})"
    return f"{format_s(m.time_to_detect_s)} (first fallback {_s(m.first_fallback_s)} → diagnosis {_s(m.diagnosis_s)})"


def availability_label(record: RehearsalRecord) -> str:
    """`100.0% (1234 of 1234 Drafts answered during the incident)`."""
    m = record.measures
    return f"{100 * m.availability:.1f}% ({m.answered} of {m.drafts} Drafts answered during the incident)"


def summary_rows(record: RehearsalRecord) -> list[tuple[str, str]]:
    """The incident summary's head: verdict, root cause beside the diagnosis, times."""
    m = record.measures
    diagnosis = record.diagnoses[0] if record.diagnoses else None
    mode = record.mode + (", blind" if record.blind else "")
    rows = [
        ("verdict", f"{record.verdict.value}: {record.reason}"),
        ("scenario", f"{record.scenario}: {record.scenario_description}"),
        ("mode", f"{mode}; backend {record.backend}"),
        (
            "pin",
            f"{record.pin.release_tag} ({record.pin.expected_service_contract_version}); last approved trio: {record.rollback_target or DASH}",
        ),
        ("root cause (injected)", record.root_cause.description),
        (
            "diagnosis",
            f"{diagnosis.text} ({diagnosis.actor}, {_s(diagnosis.at_s)})"
            if diagnosis
            else "none entered",
        ),
        ("time to detect", detect_label(record)),
        ("time to restore", restore_label(record)),
        ("restore after the fix", _with_resolution(m.restore_after_fix_s, m.restore_resolution_s)),
        ("Draft availability", availability_label(record)),
        ("fallback reasons", ", ".join(f"{k}×{v}" for k, v in m.fallback_reasons.items()) or DASH),
        (
            "machine error codes",
            ", ".join(f"{k}×{v}" for k, v in m.machine_error_codes.items()) or DASH,
        ),
    ]
    if m.unannounced_error_codes:
        rows.append(
            (
                "unannounced error codes",
                ", ".join(m.unannounced_error_codes)
                + " (not in the pin's producer manifest error_code_enum: contract drift)",
            )
        )
    rows += [
        ("started", record.started_at),
        ("finished", record.finished_at or "not finished (interrupted or still running)"),
    ]
    return rows


def render_summary(record: RehearsalRecord) -> str:
    """summary.md: the incident summary with root cause, diagnosis, times and prevention actions."""
    mark = _MARK.get(record.verdict, "")
    parts = [f"## mkdrill rehearsal `{record.rehearsal_id}`: {mark} {record.verdict.value}", ""]
    parts += [_table(("field", "value"), summary_rows(record)), ""]
    parts += [
        "### Checklist",
        "",
        _table(
            ("#", "step", "state", "asked", "performed", "verified", "found"),
            [
                [
                    str(s.number),
                    s.title,
                    s.state,
                    _s(s.requested_s),
                    _s(s.performed_s),
                    _s(s.verified_s),
                    s.detail,
                ]
                for s in record.checklist
            ],
        ),
        "",
    ]
    if record.contract_runs:
        rows = [
            [
                _s(r.started_s),
                r.target,
                "passed" if r.passed else "failed",
                "; ".join(
                    f"{c.name} {'ok' if c.passed else 'FAILED'}: {c.observed}" for c in r.checks
                ),
            ]
            for r in record.contract_runs
        ]
        parts += [
            "### Contract and CI re-runs",
            "",
            _table(("started", "against", "result", "checks"), rows),
            "",
        ]
    for title, entries in (
        ("Prevention actions", record.prevention_actions),
        ("Notes", record.notes),
        ("Diagnoses", record.diagnoses[1:]),
    ):
        if entries:
            parts += (
                [f"### {title}", ""]
                + [f"- {e.text} ({e.actor}, {_s(e.at_s)})" for e in entries]
                + [""]
            )
    faults = [
        [f.description, _s(f.injected_s), _s(f.removed_s), f.removed_by or DASH]
        for f in record.root_cause.faults
    ]
    parts += ["### Injected faults", "", _table(("fault", "injected", "removed", "by"), faults), ""]
    parts += [
        "### Events",
        "",
        _table(("at", "who", "what"), [[_s(e.at_s), e.actor, e.text] for e in record.events]),
        "",
    ]
    return "\n".join(parts)


def timeline_drill(
    record: RehearsalRecord,
) -> tuple[DrillResult, list[tuple[float, str]], float]:
    """The rehearsal as a drill-shaped record for the timeline chart, and its operator marks.

    The chart's time axis starts at the first Draft (the steady state before the incident); the
    third value is when the incident started on it.
    """
    shift = -min([0.0, *(s.t_s for s in record.samples)])
    m = record.measures
    samples = [s.model_copy(update={"t_s": round(s.t_s + shift, 4)}) for s in record.samples]
    end = max([shift, *(s.t_s for s in samples), *((e.at_s + shift) for e in record.events)])
    fix = m.fix_requested_s
    phases = [PhaseSpan(phase=Phase.STEADY, start_s=0.0, end_s=shift)]
    phases.append(
        PhaseSpan(
            phase=Phase.OBSERVE, start_s=shift, end_s=(fix + shift) if fix is not None else end
        )
    )
    if fix is not None:
        restored = m.restored_s + shift if m.restored_s is not None else end
        phases.append(PhaseSpan(phase=Phase.RECOVER, start_s=fix + shift, end_s=restored))
        if m.restored_s is not None:
            phases.append(PhaseSpan(phase=Phase.VERIFY, start_s=m.restored_s + shift, end_s=end))
    ttr = None
    fix_kind = next((s.step for s in record.checklist if s.step in FIX_KINDS), "fix")
    if fix is not None:
        ttr = TimeToRestore(
            kind=fix_kind,
            target_release=(record.rollback_target or "").split(" ")[0]
            if fix_kind == "revert_trio"
            else record.pin.release_tag,
            started_s=fix + shift,
            total_s=m.restore_after_fix_s,
            resolution_s=m.restore_resolution_s,
            budget_s=m.budget_s,
            within_budget=bool(m.budget_met),
            milestones=[
                Milestone(
                    name=MilestoneName.FIRST_ENRICHED_DRAFT,
                    at_s=m.restore_after_fix_s,
                    resolution_s=m.restore_resolution_s,
                )
            ],
        )
    drill = DrillResult(
        name=record.scenario,
        description=record.scenario_description,
        suites=["rehearsal"],
        file=record.scenario_file,
        verdict=record.verdict,
        reason=record.reason,
        started_at=record.started_at,
        duration_s=end,
        fault={"kind": "incident"},
        fault_window=None,
        consumer={},
        phases=phases,
        probe=[],
        fallback_reasons=m.fallback_reasons,
        latency_bound_ms=float(record.settings.get("latency_bound_ms", "0") or 0),
        assertions=[],
        time_to_restore=ttr,
        samples=samples,
    )
    marks = [
        (e.at_s + shift, f"{MARKED_EVENTS[e.kind]}{f' {e.step}' if e.step else ''}")
        for e in record.events
        if e.kind in MARKED_EVENTS
    ]
    return drill, marks, shift


def render_html(record: RehearsalRecord) -> str:
    """report.html: the summary head, the Draft timeline with operator events marked, the checklist, events."""
    drill, marks, shift = timeline_drill(record)
    head = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary_rows(record)
    )
    steps = "".join(
        f"<tr><td>{s.number}</td><td>{escape(s.title)}</td><td>{escape(s.state)}</td><td>{_s(s.requested_s)}</td>"
        f"<td>{_s(s.performed_s)}</td><td>{_s(s.verified_s)}</td><td>{escape(s.detail)}</td></tr>"
        for s in record.checklist
    )
    events = "".join(
        f'<tr class="{"operator-event" if e.actor == "operator" else ""}"><td>{_s(e.at_s)}</td><td>{escape(e.actor)}</td><td>{escape(e.text)}</td></tr>'
        for e in record.events
    )
    axis = f"seconds since the first Draft (the incident started at {shift:.1f} s)"
    chart = (
        render_timeline(drill, marks, axis)
        if drill.samples
        else '<p class="muted">No Draft was sampled.</p>'
    )
    title = f"mkdrill rehearsal {record.rehearsal_id}: {record.verdict.value}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{PAGE_STYLE} tr.operator-event td {{ background: #eef7f6; }}</style></head><body><main>"
        f'<h1>mkdrill rehearsal {escape(record.rehearsal_id)} <span class="badge {record.verdict.value}">{record.verdict.value}</span></h1>'
        f'<div class="card"><table class="meta">{head}</table></div>'
        f"<section><h2>Draft flow</h2>{chart}"
        '<div class="legend"><span><i class="vline" style="background:#0b7a75"></i>operator events '
        "(diagnosis, notes, prevention, steps asked and verified)</span>"
        '<span><i class="vline"></i>fix and first enriched Draft</span></div></section>'
        "<section><h2>Checklist</h2><table><thead><tr><th>#</th><th>step</th><th>state</th><th>asked</th>"
        f"<th>performed</th><th>verified</th><th>found</th></tr></thead><tbody>{steps}</tbody></table></section>"
        "<section><h2>Events</h2><table><thead><tr><th>at</th><th>who</th><th>what</th></tr></thead>"
        f"<tbody>{events}</tbody></table></section></main></body></html>\n"
    )
