"""Reading a stored report.json back into a run record, with one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runner.errors import DefinitionError
from runner.record import REPORT_SCHEMA_VERSION, RunRecord
from runner.reports.evidence import strip_conveniences
from runner.reports.journal import with_journal

REPORT_FILE = "report.json"
DEFAULT_REPORTS_DIR = Path("reports")


def resolve_report_path(run: str, reports_dir: Path = DEFAULT_REPORTS_DIR) -> Path:
    """RUN of `mkdrill report`: a report.json, a run folder, or a run id under `reports_dir`."""
    given = Path(run)
    if given.is_dir():
        return given / REPORT_FILE
    if given.exists() or given.suffix == ".json":
        return given
    return reports_dir / run / REPORT_FILE


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{location}: {error['msg']}{more}"


def load_report(path: Path) -> RunRecord:
    """Parse and validate one report.json; DefinitionError naming the path if it cannot be used.

    A run killed outright left its report as it started: the drills it finished come from its
    journal beside it (drills.jsonl)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError(
            f"{path}: no such report; give a run id, a run folder or a report.json"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot read the report ({exc})") from exc
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"{path}: not JSON (line {exc.lineno}: {exc.msg}); is the run still being written?"
        ) from exc
    if not isinstance(data, dict):
        raise DefinitionError(f"{path}: not a mkdrill report (top level is not an object)")
    version = data.get("schema_version")
    major = REPORT_SCHEMA_VERSION.split(".")[0]
    if not isinstance(version, str) or version.split(".")[0] != major:
        raise DefinitionError(
            f"{path}: schema_version {version!r} is not readable by this mkdrill (reads {major}.x)"
        )
    try:
        record = RunRecord.model_validate(strip_conveniences(data))
    except ValidationError as exc:
        raise DefinitionError(f"{path}: not a valid mkdrill report: {_first_error(exc)}") from exc
    return with_journal(record, path.parent)
