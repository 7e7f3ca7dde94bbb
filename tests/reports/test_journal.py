"""Reports rendered once: drills appended to the journal meanwhile, and read back for a killed run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from runner.progress import Progress
from runner.record import Verdict
from runner.reports import REPORT_FILES
from runner.reports.journal import JOURNAL, append_drill, read_journal, start_journal
from runner.reports.loader import load_report
from tests.reports.factory import make_drill, make_record


def _started(out: Path) -> Progress:
    progress = Progress(out, stream=io.StringIO())
    progress.run_started(make_record([], verdict=Verdict.INTERRUPTED))
    return progress


def test_a_finished_drill_is_appended_and_no_report_is_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    progress = _started(out)
    written = {name: (out / name).read_bytes() for name in REPORT_FILES}
    first, second = make_drill("first"), make_drill("second", Verdict.FAILED)
    progress.drill_started("first", 1, 2)
    progress.drill_finished(first, make_record([first], verdict=Verdict.INTERRUPTED))
    progress.drill_started("second", 2, 2)
    progress.drill_finished(second, make_record([first, second], verdict=Verdict.INTERRUPTED))
    assert {name: (out / name).read_bytes() for name in REPORT_FILES} == written
    assert [d.name for d in read_journal(out)] == ["first", "second"]
    assert len((out / JOURNAL).read_text().splitlines()) == 2
    progress.run_finished(make_record([first, second]))
    report = json.loads((out / "report.json").read_text())
    assert [d["name"] for d in report["drills"]] == ["first", "second"]
    assert "second" in (out / "summary.md").read_text()


def test_a_killed_runs_report_takes_its_drills_from_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _started(out)
    drill = make_drill("done-before-the-kill")
    append_drill(out, drill, make_record([drill], verdict=Verdict.INTERRUPTED))
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["verdict"] == "interrupted" and on_disk["drills"] == []
    record = load_report(out / "report.json")
    assert record.verdict is Verdict.INTERRUPTED
    assert [d.name for d in record.drills] == ["done-before-the-kill"]
    assert record.drills[0] == drill


def test_a_finished_report_is_never_replaced_by_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    progress = _started(out)
    drill = make_drill("kept")
    progress.drill_finished(drill, make_record([drill], verdict=Verdict.INTERRUPTED))
    progress.run_finished(make_record([], verdict=Verdict.ERROR))
    assert load_report(out / "report.json").drills == []


def test_a_line_torn_by_the_kill_ends_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    start_journal(out)
    drill = make_drill("whole")
    append_drill(out, drill, make_record([drill], verdict=Verdict.INTERRUPTED))
    with (out / JOURNAL).open("a", encoding="utf-8") as journal:
        journal.write('{"name": "torn", "verdi')
    assert [d.name for d in read_journal(out)] == ["whole"]
    assert read_journal(tmp_path / "nowhere") == []


def test_a_reused_folder_starts_an_empty_journal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    start_journal(out)
    drill = make_drill("old-run")
    append_drill(out, drill, make_record([drill], verdict=Verdict.INTERRUPTED))
    _started(out)
    assert read_journal(out) == []


def test_secrets_are_masked_in_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKDRILL_ADMIN_TOKEN", "s3cr3t-t0ken-value")
    out = tmp_path / "run"
    start_journal(out)
    drill = make_drill("leaky").model_copy(
        update={"reason": "consumer said s3cr3t-t0ken-value at http://user:pw@127.0.0.1:1/"}
    )
    append_drill(out, drill, make_record([drill], verdict=Verdict.INTERRUPTED))
    text = (out / JOURNAL).read_text()
    assert "s3cr3t-t0ken-value" not in text and "user:pw" not in text
    assert read_journal(out)[0].name == "leaky"
