"""write_reports: atomic files, cheap to repeat; a crashed run keeps its last good files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

import runner.reports.atomic as atomic
from runner.record import Verdict
from runner.reports import REPORT_FILES, write_reports
from runner.reports.atomic import write_atomic
from tests.reports.factory import make_drill, make_record

REPO = Path(__file__).resolve().parents[2]


def _assert_all_readable(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    JUnitXml.fromfile(str(folder / "junit.xml"))
    assert (folder / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert (folder / "summary.md").read_text(encoding="utf-8").startswith("## mkdrill run")
    return data


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_four_files(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "run-1"
    paths = write_reports(make_record(), out)
    assert [p.name for p in paths] == list(REPORT_FILES)
    assert all(p.parent == out for p in paths)
    _assert_all_readable(out)
    assert _leftovers(out) == []


def test_interrupted_run_then_crash_keeps_earlier_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    first = make_drill("mk-offline-stop")
    second = make_drill("mk-timeout", Verdict.FAILED, failed_assertion=("a", "b"))
    # The engine's calls: at the start, then after each drill, verdict interrupted until the end.
    write_reports(make_record([], verdict=Verdict.INTERRUPTED), out)
    assert _assert_all_readable(out)["verdict"] == "interrupted"
    write_reports(make_record([first], verdict=Verdict.INTERRUPTED), out)
    junit_before = (out / "junit.xml").read_bytes()

    real_replace = os.replace

    def crash_on_junit(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(dst).endswith("junit.xml"):
            raise KeyboardInterrupt  # what SIGINT looks like in the middle of a write
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", crash_on_junit)
    with pytest.raises(KeyboardInterrupt):
        write_reports(make_record([first, second], verdict=Verdict.INTERRUPTED), out)
    monkeypatch.undo()

    data = _assert_all_readable(out)
    assert data["verdict"] == "interrupted"
    assert [d["name"] for d in data["drills"]] == ["mk-offline-stop", "mk-timeout"]  # written first
    assert (out / "junit.xml").read_bytes() == junit_before  # untouched, still whole
    assert _leftovers(out) == []


def test_failed_write_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.json"
    target.write_text("old", encoding="utf-8")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runner.record import Verdict
    from runner.reports import write_reports
    from tests.reports.factory import make_drill, make_record

    out = Path(sys.argv[1])
    drills = [make_drill(f"drill-{i:02d}") for i in range(8)]
    for n in range(10_000):
        write_reports(make_record(drills[: n % 8 + 1], verdict=Verdict.INTERRUPTED), out)
        if n == 0:
            Path(sys.argv[2]).write_text("ready")
    """
)


@pytest.mark.slow
def test_sigkill_mid_run_leaves_whole_files_and_next_write_sweeps_leftovers(tmp_path: Path) -> None:
    out, ready = tmp_path / "run", tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.05, 0.13, 0.31):
        ready.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, str(out), str(ready)], cwd=REPO, env=env
        )
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert ready.exists(), "the writer never finished its first set of reports"
            time.sleep(delay)  # kill it somewhere in the middle of a later write
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        data = _assert_all_readable(out)
        assert data["verdict"] == "interrupted"
    write_reports(make_record(), out)
    assert _leftovers(out) == []
    assert _assert_all_readable(out)["verdict"] == "passed"
