"""A concurrent `mkdrill env reset` (local backend) leaves a live run untouched and sweeps a dead one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.backends.processes import pid_alive, process_start_time
from tests.envs.concurrent import finish, mkdrill, start_live_run, wait_until_observing


@pytest.mark.slow
def test_a_concurrent_reset_leaves_a_live_local_run_untouched(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    out = reports / "live"
    run = start_live_run(tmp_path, out)
    leftover = subprocess.Popen(["sleep", "120"])
    try:
        run_id = wait_until_observing(run, out)
        state = reports / ".state"
        live_pids = [
            p["pid"] for p in json.loads((state / f"{run_id}.json").read_text())["processes"]
        ]
        dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
        dead_owner.wait()
        killed = {
            "name": "memorykernel",
            "pid": leftover.pid,
            "start_time": process_start_time(leftover.pid),
        }
        (state / "killed-run.json").write_text(
            json.dumps({"owner_pid": dead_owner.pid, "processes": [killed]})
        )

        reset = mkdrill(tmp_path, "env", "reset")

        assert reset.returncode == 0, reset.stderr
        assert f"run {run_id} left alone: it holds the run lock" in reset.stderr
        assert f"process memorykernel (pid {leftover.pid})" in reset.stdout
        assert all(pid_alive(pid) for pid in live_pids)
        report = finish(run, out)
        assert report["verdict"] == "passed"
        assert leftover.wait(timeout=5) != 0
    finally:
        for proc in (run, leftover):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
