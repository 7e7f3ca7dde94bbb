"""drills.jsonl: each drill's result appended as it finishes, so the reports are rendered once.

A run writes its reports when it starts (marked interrupted) and when it ends; in between, each
finished drill is one line appended here (a single write, then fsync), masked as report.json is.
A run killed outright (SIGKILL) thus leaves a valid report.json marked interrupted and every drill
it finished in this journal; reading that report back (`mkdrill report show`) takes them from
here. A line torn by the kill is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pydantic import ValidationError

from runner.record import DrillResult, RunRecord, Verdict
from runner.reports.evidence import DRILL_CONVENIENCE_KEYS, build_evidence
from runner.reports.redact import Redactor

log = logging.getLogger(__name__)

JOURNAL = "drills.jsonl"
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)


def start_journal(out_dir: Path) -> None:
    """An empty journal for a run starting in `out_dir` (a reused folder's old lines go)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / JOURNAL).unlink(missing_ok=True)


def append_drill(out_dir: Path, result: DrillResult, record: RunRecord) -> None:
    """Append `result` (one of `record`'s drills) as one line, secrets masked, and fsync it."""
    evidence = build_evidence(record.model_copy(update={"drills": [result]}))
    redactor = Redactor.for_report(evidence)
    line = json.dumps(evidence["drills"][0], ensure_ascii=False, separators=(",", ":"))
    data = (redactor.redact_text(line) + "\n").encode("utf-8")
    fd = os.open(out_dir / JOURNAL, _APPEND_FLAGS, 0o644)
    try:
        os.write(fd, data)  # one write: a kill leaves the line whole or torn, never interleaved
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(out_dir: Path) -> list[DrillResult]:
    """The drills a run appended, in order; a torn or unreadable line ends the list."""
    try:
        lines = (out_dir / JOURNAL).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    drills: list[DrillResult] = []
    for number, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
            for key in DRILL_CONVENIENCE_KEYS:
                data.pop(key, None)
            drills.append(DrillResult.model_validate(data))
        except (ValueError, TypeError, AttributeError, ValidationError):
            log.info(
                "%s line %d: not a whole drill (the run was killed writing it)", JOURNAL, number
            )
            break
    return drills


def with_journal(record: RunRecord, out_dir: Path) -> RunRecord:
    """A killed run's record (interrupted, never finished) with the drills its journal holds."""
    if record.verdict is not Verdict.INTERRUPTED or record.finished_at is not None:
        return record
    journaled = read_journal(out_dir)
    if len(journaled) <= len(record.drills):
        return record
    return record.model_copy(update={"drills": journaled})
