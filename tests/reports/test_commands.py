"""`mkdrill pins`, `mkdrill history`, `mkdrill report show|compare` through typer's CliRunner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from runner.cli import app as mkdrill_app
from runner.errors import DrillError
from runner.ledger import Ledger
from runner.pins import load_pin
from runner.record import RunRecord, Verdict
from runner.reports import write_reports
from tests.reports.factory import PIN, make_drill, make_record

PINS = Path(__file__).resolve().parents[2] / "runner" / "data" / "pins"


def _app() -> typer.Typer:
    return mkdrill_app


@dataclass
class Outcome:
    exit_code: int
    output: str


def run_cli(*args: str) -> Outcome:
    """Invoke like `mkdrill`: a DrillError becomes its exit code and a one-line message."""
    result = CliRunner().invoke(_app(), list(args))
    if isinstance(result.exception, DrillError):
        return Outcome(result.exception.exit_code, f"mkdrill: {result.exception}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.output)


class Clock:
    """A fake wall clock that moves a minute per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def _run(
    index: int, drills: list, verdict: Verdict | None = None, suite: str | None = "nightly"
) -> RunRecord:  # type: ignore[type-arg]
    return make_record(
        drills,
        run_id=f"run-{index:02d}",
        verdict=verdict,
        suite=suite,
        started_at=f"2026-01-{index + 1:02d}T02:00:00+00:00",
    )


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    """Six nightly runs: mk-stop fails once (flaky), mk-slow restores slower and slower."""
    root = tmp_path / "reports"
    with Ledger(root / "ledger.sqlite3", clock=Clock()) as ledger:
        ledger.ensure_seeded(load_pin(PINS / "v0.4.0.json"))
        for i in range(6):
            stop = make_drill("mk-stop", Verdict.FAILED if i == 3 else Verdict.PASSED, ttr_s=1.0)
            slow = make_drill("mk-slow", ttr_s=1.0 + 0.5 * i)
            record = _run(i, [stop, slow])
            write_reports(record, root / record.run_id)
            ledger.record_run(record, root / record.run_id)
    return root


def test_pins_marks_the_last_green(reports_dir: Path) -> None:
    out = run_cli("pins", "--ledger", str(reports_dir / "ledger.sqlite3"))
    assert out.exit_code == 0
    rows = {
        line.split()[1] if line.startswith("*") else line.split()[0]: line
        for line in out.output.splitlines()[2:4]
    }
    # v0.3.2 (the factory's pin) passed a suite after v0.4.0 was seeded: it is the last green.
    assert rows["v0.3.2"].startswith("*")
    assert not rows["v0.4.0"].startswith("*")
    assert "* last green: v0.3.2 @ cf331449e158 (service.v2/api.v1)" in out.output
    assert "run run-05 (nightly, 2026-01-06 02:00Z" in out.output


def test_pins_without_a_ledger(tmp_path: Path) -> None:
    out = run_cli("pins", "--ledger", str(tmp_path / "none.sqlite3"))
    assert out.exit_code == 0
    assert "No ledger at" in out.output
    assert not (tmp_path / "none.sqlite3").exists()


def test_history_flags_flaky_and_shows_restore_trend(reports_dir: Path) -> None:
    out = run_cli("history", "--ledger", str(reports_dir / "ledger.sqlite3"))
    assert out.exit_code == 0, out.output
    lines = {line.split()[0]: line for line in out.output.splitlines() if line.startswith("mk-")}
    assert lines["mk-stop"].split()[1:6] == ["local", "5", "1", "0", "83%"]
    assert lines["mk-stop"].rstrip().endswith("FLAKY")
    assert "FLAKY" not in lines["mk-slow"]
    assert "slower" in lines["mk-slow"]
    assert "flaky (passed and failed within the window): mk-stop" in out.output
    assert "last green: v0.3.2" in out.output


def test_history_window_and_single_drill(reports_dir: Path) -> None:
    ledger = str(reports_dir / "ledger.sqlite3")
    out = run_cli("history", "--drill", "mk-stop", "--last", "2", "--ledger", ledger)
    assert out.exit_code == 0, out.output
    summary = next(line for line in out.output.splitlines() if line.startswith("mk-stop"))
    # the failure (run-03) is outside the window
    assert summary.split()[1:6] == ["local", "2", "0", "0", "100%"]
    assert "FLAKY" not in summary
    assert "run-05" in out.output and "run-04" in out.output and "run-03" not in out.output


def test_history_labels_every_column_keeps_interrupted_apart_and_trends_per_backend(
    tmp_path: Path,
) -> None:
    ledger_path = tmp_path / "ledger.sqlite3"
    with Ledger(ledger_path, clock=Clock()) as ledger:
        for i in range(4):  # local: fast restores, one interrupted run
            verdict = Verdict.INTERRUPTED if i == 3 else Verdict.PASSED
            record = _run(i, [make_drill("mk-stop", verdict, ttr_s=0.5)], verdict=verdict)
            ledger.record_run(record, tmp_path / record.run_id)
        for i in range(4, 8):  # compose: containers restore slower, and slower still
            record = _run(i, [make_drill("mk-stop", ttr_s=3.0 + i)])
            record = record.model_copy(update={"backend": "compose"})
            ledger.record_run(record, tmp_path / record.run_id)
    out = run_cli("history", "--ledger", str(ledger_path))
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    (header,) = [line for line in lines if line.startswith("drill ")]
    assert header.split() == [
        "drill", "backend", "passed", "failed", "interrupted", "pass", "rate",
        "ttr", "p50", "ttr", "p95", "ttr", "trend", "flaky",
    ]  # fmt: skip
    rows = {line.split()[1]: line.split() for line in lines if line.startswith("mk-stop")}
    assert rows["local"][2:6] == ["3", "0", "1", "100%"]  # 4 results: 3 passed, 1 interrupted
    assert rows["compose"][2:6] == ["4", "0", "0", "100%"]
    assert rows["local"][6:8] == ["0.50", "s"] and "flat" in rows["local"]  # its own trend
    assert rows["local"][10] == "▁▁▁"  # the interrupted result is no time to restore
    assert "slower" in rows["compose"]  # compose's times never mix with local's
    assert rows["local"][-1] == rows["compose"][-1] == "-"  # the last column has a header too

    single = run_cli("history", "--drill", "mk-stop", "--ledger", str(ledger_path))
    assert " compose " in single.output and " local " in single.output
    assert "interrupted" in single.output


def test_history_unknown_drill_is_bad_input(reports_dir: Path) -> None:
    out = run_cli("history", "--drill", "mk-nope", "--ledger", str(reports_dir / "ledger.sqlite3"))
    assert out.exit_code == 2
    assert "--drill mk-nope: no results" in out.output
    assert "mk-slow, mk-stop" in out.output


def test_report_show_by_id_folder_and_file(reports_dir: Path) -> None:
    for run in ("run-03", str(reports_dir / "run-03"), str(reports_dir / "run-03" / "report.json")):
        out = run_cli("report", "show", run, "--reports-dir", str(reports_dir))
        assert out.exit_code == 0, out.output
        assert "run-03" in out.output
        assert "failed: run failed" in out.output
        assert "Failed assertions:" not in out.output
        assert any(
            line.startswith("mk-stop") and " failed " in line for line in out.output.splitlines()
        )


def test_report_compare_exit_codes(reports_dir: Path) -> None:
    root = str(reports_dir)
    regressed = run_cli("report", "compare", "run-02", "run-03", "--reports-dir", root)
    assert regressed.exit_code == 1
    assert "verdict passed → failed" in regressed.output
    assert "time to restore 2.00 s → 2.50 s (+25%)" in regressed.output
    assert "2 regression(s) in 2 drill(s)" in regressed.output

    # mk-stop recovered; mk-slow 2.50 s → 3.00 s is +20%, on the margin but not past it.
    fixed = run_cli("report", "compare", "run-03", "run-04", "--reports-dir", root)
    assert fixed.exit_code == 0, fixed.output
    slower = run_cli("report", "compare", "run-03", "run-05", "--reports-dir", root)
    assert slower.exit_code == 1
    assert "time to restore 2.50 s → 3.50 s (+40%)" in slower.output
    same = run_cli("report", "compare", "run-04", "run-04", "--reports-dir", root)
    assert same.exit_code == 0
    assert "no regressions" in same.output


@pytest.mark.parametrize("damage", ["missing", "not-json", "invalid"])
def test_report_compare_bad_report_exits_2_naming_the_path(reports_dir: Path, damage: str) -> None:
    path = reports_dir / "run-04" / "report.json"
    if damage == "missing":
        path.unlink()
    elif damage == "not-json":
        path.write_text("{", encoding="utf-8")
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        del data["drills"][0]["verdict"]
        path.write_text(json.dumps(data), encoding="utf-8")
    out = run_cli("report", "compare", "run-02", "run-04", "--reports-dir", str(reports_dir))
    assert out.exit_code == 2
    assert str(path) in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_report_show_missing_run(tmp_path: Path) -> None:
    out = run_cli("report", "show", "no-such-run", "--reports-dir", str(tmp_path))
    assert out.exit_code == 2
    assert str(tmp_path / "no-such-run" / "report.json") in out.output


def test_pin_factory_is_not_the_seed_pin() -> None:
    # The fixture relies on two distinct pins: the seeded v0.4.0 file and the factory's v0.3.2.
    assert PIN.pin_file_sha256 != load_pin(PINS / "v0.4.0.json").raw_sha256
