"""SIGKILL the runner at 20+ points over every phase; `env reset` or the next run leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.backends.processes import pid_alive
from runner.record import Verdict
from runner.reports.loader import load_report

# Seconds after start: environment start-up, then steady/inject/observe/recover/verify of the drills
# (offline-stopped ≈ 3 s, version-mismatch-deploy ≈ 3.5 s, flapping ≈ 5 s: longer than the last point).
KILL_POINTS_S = [
    0.3,
    0.6,
    0.9,
    1.2,
    1.5,
    1.8,
    2.1,
    2.4,
    2.7,
    3.0,
    3.3,
    3.6,
    3.9,
    4.2,
    4.6,
    5.0,
    5.4,
    5.8,
    6.3,
    6.8,
    7.4,
]


def recorded_pids(reports: Path) -> set[int]:
    pids: set[int] = set()
    for path in (reports / ".state").glob("*.json"):
        try:
            data = json.loads(path.read_text() or "{}")
        except ValueError:
            continue
        pids.update(int(p["pid"]) for p in data.get("processes", []))
    return pids


def mkdrill(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_killed_at_every_phase_then_reset_leaves_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    seen: set[int] = set()
    assert len(KILL_POINTS_S) >= 20
    for index, delay in enumerate(KILL_POINTS_S):
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "run",
                "offline-stopped",
                "version-mismatch-deploy",
                "flapping",
                "--out",
                str(reports / f"killed-{index}"),
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            seen |= recorded_pids(reports)
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        seen |= recorded_pids(reports)
        if index % 2 == 0:  # every other time, sweep explicitly; otherwise the next run must do it
            reset = mkdrill(tmp_path, "env", "reset")
            assert reset.returncode == 0, reset.stderr
            assert not recorded_pids(reports)
    final = mkdrill(tmp_path, "env", "reset")
    assert final.returncode == 0, final.stderr
    assert seen, "the runs started services before being killed"
    assert not [pid for pid in seen if pid_alive(pid)], "a service of a killed run is still alive"
    assert not list((reports / ".state").glob("*.json"))
    # reports written before each kill are whole JSON, marked interrupted; read back, they carry
    # the drills the run had finished (from its journal), each whole
    for report in reports.glob("killed-*/report.json"):
        assert json.loads(report.read_text())["verdict"] == "interrupted"
        record = load_report(report)
        assert record.verdict is Verdict.INTERRUPTED
        assert {d.name for d in record.drills} <= {
            "offline-stopped",
            "version-mismatch-deploy",
            "flapping",
        }
    # the ledger is intact
    with sqlite3.connect(reports / "ledger.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # and a plain next run starts at the last green pin and passes
    after = mkdrill(tmp_path, "run", "offline-stopped", "--out", str(reports / "after"))
    assert after.returncode == 0, after.stdout + after.stderr
    report = json.loads((reports / "after" / "report.json").read_text())
    assert report["releases"]["baseline"] == "v0.4.0" and report["verdict"] == "passed"
