"""Write every report of a run into its folder: report.json, junit.xml, summary.md, report.html."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import ValidationError

from runner.record import RunRecord
from runner.reports.atomic import sweep_stale_tmp, write_atomic
from runner.reports.evidence import build_evidence, render_evidence, strip_conveniences
from runner.reports.html import render_html
from runner.reports.junit import render_junit
from runner.reports.markdown import render_markdown
from runner.reports.redact import Redactor

log = logging.getLogger(__name__)

REPORT_JSON = "report.json"
JUNIT_XML = "junit.xml"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
REPORT_FILES = (REPORT_JSON, JUNIT_XML, SUMMARY_MD, REPORT_HTML)

_RENDERERS: tuple[tuple[str, Callable[[RunRecord], str]], ...] = (
    (JUNIT_XML, render_junit),
    (SUMMARY_MD, render_markdown),
    (REPORT_HTML, render_html),
)


def write_reports(
    record: RunRecord, out_dir: Path, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """Render every report of `record` into `out_dir`, each replaced atomically; return the paths.

    Safe to call repeatedly during a run (after each drill): each call rewrites all files from the
    record as it stands, so a run killed half-way leaves the last complete set. Secrets from
    `environ` (default: the process environment) and from secret-named settings are masked.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_tmp(out_dir, list(REPORT_FILES))
    evidence = build_evidence(record)
    redactor = Redactor.for_report(evidence, environ)
    evidence_text = render_evidence(evidence)
    if redactor.occurs_in(evidence_text):
        evidence = redactor.redact_data(evidence)
        evidence_text = render_evidence(evidence)
        record = _redacted_record(record, evidence)

    written: list[Path] = []
    path = out_dir / REPORT_JSON
    write_atomic(path, redactor.redact_text(evidence_text))
    written.append(path)
    for name, render in _RENDERERS:
        path = out_dir / name
        write_atomic(path, redactor.redact_text(render(record)))
        written.append(path)
    log.debug("wrote %d reports of run %s to %s", len(written), record.run_id, out_dir)
    return written


def _redacted_record(original: RunRecord, evidence: dict[str, object]) -> RunRecord:
    # Masking may break a typed field (a secret equal to an enum value); the text pass covers that.
    try:
        return RunRecord.model_validate(strip_conveniences(dict(evidence)))
    except ValidationError as exc:
        log.warning(
            "masked record no longer validates (%s); masking the rendered text only",
            exc.error_count(),
        )
        return original


def report_paths(out_dir: Path) -> dict[str, Path]:
    """Where write_reports puts each file, by file name."""
    return {name: out_dir / name for name in REPORT_FILES}
