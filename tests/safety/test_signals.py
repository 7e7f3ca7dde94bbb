"""SIGINT/SIGTERM: cleanup, a report marked interrupted, exit 130; one run at a time per environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.backends.processes import pid_alive
from tests.engine.conftest import mkdrill

DEADLINE_S = 60.0


def start_run(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "run", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_state(reports: Path, timeout_s: float = 30.0) -> dict[str, object]:
    """Wait until the run has recorded its processes (the environment is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in (reports / ".state").glob("*.json"):
            data = json.loads(path.read_text() or "{}")
            if len(data.get("processes", [])) >= 3:
                return data
        time.sleep(0.05)
    raise AssertionError("the run never recorded its environment")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_drill_cleans_up_and_reports_interrupted(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "reports" / "run"
    run = start_run(tmp_path, "flapping", "offline-stopped", "--out", str(out))
    try:
        state = wait_for_state(tmp_path / "reports")
        time.sleep(1.5)  # inside the first drill's fault window
        run.send_signal(signum)
        _stdout, stderr = run.communicate(timeout=DEADLINE_S)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "interrupted"
    assert "interrupted" in stderr
    for proc in state["processes"]:  # type: ignore[union-attr]
        assert not pid_alive(int(proc["pid"])), proc
    assert not list((tmp_path / "reports" / ".state").glob("*.json"))


def test_second_run_on_the_same_environment_is_refused(tmp_path: Path) -> None:
    first = start_run(tmp_path, "flapping", "--out", str(tmp_path / "reports" / "a"))
    try:
        wait_for_state(tmp_path / "reports")
        second = mkdrill(
            "run", "disabled", "--out", str(tmp_path / "reports" / "b"), cwd=tmp_path, timeout=60
        )
        assert second.returncode == 3
        assert (
            "another mkdrill run" in second.stderr and len(second.stderr.strip().splitlines()) == 1
        )
        assert not (tmp_path / "reports" / "b").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=DEADLINE_S)


def test_stale_lock_of_a_killed_run_is_taken_over_and_swept(tmp_path: Path) -> None:
    first = start_run(tmp_path, "flapping", "--out", str(tmp_path / "reports" / "a"))
    state = wait_for_state(tmp_path / "reports")
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=10)
    leftovers = [int(p["pid"]) for p in state["processes"]]  # type: ignore[union-attr]
    second = mkdrill(
        "run", "disabled", "--out", str(tmp_path / "reports" / "b"), cwd=tmp_path, timeout=120
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "took over the lock of killed run" in second.stderr
    assert not any(pid_alive(pid) for pid in leftovers)


def test_services_of_a_sigkilled_runner_stop_by_themselves(tmp_path: Path) -> None:
    run = start_run(tmp_path, "flapping", "--out", str(tmp_path / "reports" / "a"))
    state = wait_for_state(tmp_path / "reports")
    services = [int(p["pid"]) for p in state["processes"]]  # type: ignore[union-attr]
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=10)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in services):
        time.sleep(0.1)
    assert not any(pid_alive(pid) for pid in services), "services outlived their killed runner"


def test_env_up_services_outlive_the_command(tmp_path: Path) -> None:
    up = subprocess.run(
        [sys.executable, "-m", "runner", "env", "up"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((tmp_path / "reports" / ".state" / "env.json").read_text())
        time.sleep(1.5)  # longer than the owner watch interval
        assert all(pid_alive(int(p["pid"])) for p in state["processes"])
    finally:
        subprocess.run(
            [sys.executable, "-m", "runner", "env", "down"],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )
