"""The pin ledger: seeding, greening by passed suite runs, history, corruption, two writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.errors import EnvironmentProblem
from runner.ledger import SCHEMA_VERSION, Ledger, ledger_path_for
from runner.pin_state import PinState
from runner.pins import Pin, load_pin
from runner.record import PinInfo, Verdict
from tests.reports.factory import make_drill, make_record

REPO = Path(__file__).resolve().parents[1]
PINS = REPO / "runner" / "data" / "pins"


class Clock:
    """A fake wall clock that moves a minute per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def _info(pin: Pin) -> PinInfo:
    return PinInfo(
        source=str(pin.source),
        release_tag=pin.release_tag,
        commit_sha=pin.commit_sha,
        expected_service_contract_version=pin.expected_service_contract_version,
        expected_api_contract_version=pin.expected_api_contract_version,
        expected_producer_manifest_sha256=pin.expected_producer_manifest_sha256,
        pin_file_sha256=pin.raw_sha256,
    )


@pytest.fixture
def v032() -> Pin:
    return load_pin(PINS / "v0.3.2.json")


@pytest.fixture
def v040() -> Pin:
    return load_pin(PINS / "v0.4.0.json")


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Ledger(tmp_path / "reports" / "ledger.sqlite3", clock=Clock()) as opened:
        yield opened


def test_ledger_lives_beside_the_run_folders() -> None:
    assert ledger_path_for(Path("reports/20260101-abc")) == Path("reports/ledger.sqlite3")


def test_first_use_seeds_the_pin_but_only_a_run_makes_it_green(
    ledger: Ledger, v040: Pin, v032: Pin
) -> None:
    assert ledger.last_green() is None
    ledger.ensure_seeded(v040)
    # Seeded is the baseline to start from, not evidence: no pin is green yet.
    assert ledger.last_green() is None
    seeded = ledger.last_seeded()
    assert seeded is not None
    assert (seeded.release_tag, seeded.commit_sha) == ("v0.4.0", v040.commit_sha)
    assert seeded.pin_file_sha256 == v040.raw_sha256
    assert seeded.manifest_sha256 == v040.expected_producer_manifest_sha256
    assert seeded.service_contract_version == "service.v3"
    assert seeded.source == str(v040.source)
    assert seeded.state() is PinState.SEEDED
    # Later seeding with another pin only records it: the baseline stays.
    ledger.ensure_seeded(v032)
    assert ledger.last_seeded() == seeded
    assert [(p.release_tag, p.state()) for p in ledger.pins()] == [
        ("v0.4.0", PinState.SEEDED),
        ("v0.3.2", PinState.UNTESTED),
    ]


def test_passed_suite_run_turns_its_pin_green(ledger: Ledger, v040: Pin, v032: Pin) -> None:
    ledger.ensure_seeded(v040)
    ledger.record_run(make_record([make_drill()], run_id="r1", pin=_info(v032)), Path("reports/r1"))
    green = ledger.last_green()
    assert green is not None
    assert green.release_tag == "v0.3.2"
    gating = green.last_gating_run()
    assert gating is not None and gating.run_id == "r1" and gating.gating
    assert green.runs == 1 and green.last_verdict == Verdict.PASSED


def test_failed_run_turns_its_pin_red(ledger: Ledger, v040: Pin, v032: Pin) -> None:
    ledger.ensure_seeded(v040)
    failed = make_drill(verdict=Verdict.FAILED, failed_assertion=("a", "b"))
    ledger.record_run(make_record([failed], run_id="r1", pin=_info(v032)), Path("reports/r1"))
    assert ledger.last_green() is None
    v032_row = next(p for p in ledger.pins() if p.release_tag == "v0.3.2")
    assert v032_row.state() is PinState.RED and not v032_row.green
    assert v032_row.last_verdict == Verdict.FAILED


@pytest.mark.parametrize("verdict", [Verdict.INTERRUPTED, Verdict.ERROR])
def test_unfinished_runs_change_no_state(
    ledger: Ledger, v040: Pin, v032: Pin, verdict: Verdict
) -> None:
    ledger.record_run(make_record([make_drill()], run_id="r0", pin=_info(v032)), Path("r0"))
    ledger.record_run(
        make_record([], run_id="r1", verdict=verdict, pin=_info(v032), started_at="2026-01-06"),
        Path("r1"),
    )
    green = ledger.last_green()
    assert green is not None and green.release_tag == "v0.3.2"
    last = green.last_run
    assert last is not None and last.run_id == "r1" and not last.gating
    assert last.partial_reason == f"the run did not finish ({verdict.value})"


@pytest.mark.parametrize(
    ("suite", "partial"),
    [
        (None, None),
        ("nightly", "drills named on the command line (disabled)"),
        ("nightly", "--fail-fast: hang failed: the rest was not run"),
        ("contract", None),
        ("rehearsal", None),
    ],
)
def test_partial_and_non_gating_runs_change_no_state(
    ledger: Ledger, v032: Pin, suite: str | None, partial: str | None
) -> None:
    failed = make_drill(verdict=Verdict.FAILED, failed_assertion=("a", "b"))
    ledger.record_run(make_record([make_drill()], run_id="r0", pin=_info(v032)), Path("r0"))
    ledger.record_run(
        make_record(
            [failed], run_id="r1", suite=suite, partial=partial, pin=_info(v032),
            started_at="2026-01-06T00:00:00Z",
        ),
        Path("r1"),
    )  # fmt: skip
    row = ledger.pins()[0]
    assert row.state() is PinState.GREEN and row.runs == 2
    assert row.last_run is not None and row.last_run.run_id == "r1" and not row.last_run.gating
    assert row.last_run.partial_reason


def test_recording_a_run_again_replaces_it(ledger: Ledger) -> None:
    out = Path("reports/r1")
    ledger.record_run(
        make_record([make_drill("mk-a")], run_id="r1", verdict=Verdict.INTERRUPTED), out
    )
    ledger.record_run(make_record([make_drill("mk-a"), make_drill("mk-b")], run_id="r1"), out)
    runs = ledger.runs(10)
    assert [(r.run_id, r.verdict) for r in runs] == [("r1", Verdict.PASSED)]
    assert runs[0].report_path == str(out / "report.json")
    assert sorted(r.drill for r in ledger.drill_history(None, 10)) == ["mk-a", "mk-b"]


def test_runs_and_drill_history_newest_first_within_window(ledger: Ledger) -> None:
    for i in range(5):
        drills = [make_drill("mk-a", ttr_s=1.0 + i), make_drill("mk-b", ttr_s=None, restore=False)]
        record = make_record(drills, run_id=f"r{i}", started_at=f"2026-01-0{i + 1}T02:00:00Z")
        ledger.record_run(record, Path(f"reports/r{i}"))
    assert [r.run_id for r in ledger.runs(3)] == ["r4", "r3", "r2"]
    only_a = ledger.drill_history("mk-a", 2)
    assert [(r.run_id, r.time_to_restore_s) for r in only_a] == [("r4", 5.0), ("r3", 4.0)]
    assert only_a[0].fallback_reasons == {"offline": 156}
    assert only_a[0].fault_p95_latency_ms is not None
    both = ledger.drill_history(None, 2)
    assert [(r.drill, r.run_id) for r in both] == [
        ("mk-a", "r4"),
        ("mk-a", "r3"),
        ("mk-b", "r4"),
        ("mk-b", "r3"),
    ]
    assert both[2].time_to_restore_s is None


def test_times_with_other_offsets_sort_as_times(ledger: Ledger) -> None:
    ledger.record_run(
        make_record([], run_id="late", started_at="2026-01-01T03:00:00+02:00"), Path("a")
    )
    ledger.record_run(make_record([], run_id="early", started_at="2026-01-01T00:30:00Z"), Path("b"))
    # 03:00+02:00 is 01:00Z, after 00:30Z.
    assert [r.run_id for r in ledger.runs(2)] == ["late", "early"]
    assert ledger.runs(2)[0].started_at == "2026-01-01T01:00:00.000000Z"


def test_schema_is_versioned_and_journal_is_wal(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path):
        pass
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"pins", "runs", "drill_results", "rehearsals"}
    finally:
        db.close()


def _assert_one_line_problem(path: Path, match: str) -> None:
    with pytest.raises(EnvironmentProblem, match=match) as caught:
        Ledger(path)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message
    assert caught.value.exit_code == 3


def test_garbage_file_is_reported_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    garbage = b"this is not a database, but someone's history might be in here\n" * 100
    path.write_bytes(garbage)
    _assert_one_line_problem(path, "move it aside")
    assert path.read_bytes() == garbage


def test_damaged_pages_are_reported(tmp_path: Path, v040: Pin) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.ensure_seeded(v040)
        for i in range(40):
            drills = [make_drill(f"mk-{k}", restore=False) for k in range(5)]
            ledger.record_run(make_record(drills, run_id=f"run-{i:03d}"), Path("x"))
    size = path.stat().st_size
    assert size > 4 * 4096
    with path.open("r+b") as handle:
        handle.seek(2 * 4096)
        handle.write(b"\xde\xad\xbe\xef" * 2048)
    _assert_one_line_problem(path, "corrupt")


def test_ledger_from_a_newer_mkdrill_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path):
        pass
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    _assert_one_line_problem(path, "newer than this mkdrill")


def test_other_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER)")
    db.commit()
    db.close()
    _assert_one_line_problem(path, "not an mkdrill ledger")


def test_read_only_open_of_a_missing_ledger(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="no ledger yet"):
        Ledger(tmp_path / "missing.sqlite3", create=False)
    assert not (tmp_path / "missing.sqlite3").exists()


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runner.ledger import Ledger
    from runner.pins import load_pin
    from tests.reports.factory import make_drill, make_record

    path, name = Path(sys.argv[1]), sys.argv[2]
    for i in range(15):
        # A fresh open each time: schema checks and WAL setup race with the other process too.
        with Ledger(path) as ledger:
            ledger.ensure_seeded(load_pin(Path("runner/data/pins/v0.4.0.json")))
            drills = [make_drill(f"mk-{k}", restore=False) for k in range(3)]
            ledger.record_run(make_record(drills, run_id=f"{name}-{i:02d}"), Path("reports") / name)
            ledger.runs(5)
    """
)


@pytest.mark.slow
def test_two_processes_write_the_same_new_ledger(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "ledger.sqlite3"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name],
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            errors.append(err.decode(errors="replace"))
    assert not errors, errors
    with Ledger(path) as ledger:
        runs = ledger.runs(100)
        assert len(runs) == 30
        assert {r.run_id[0] for r in runs} == {"a", "b"}
        assert len(ledger.drill_history(None, 100)) == 90
        seeded = [p for p in ledger.pins() if p.seeded_at is not None]
        assert [p.release_tag for p in seeded] == ["v0.4.0"]
