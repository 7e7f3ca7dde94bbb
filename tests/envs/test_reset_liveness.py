"""`env reset` removes only what runs whose owner is gone left: a live lock or owner protects a run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.backends.owner import (
    LABEL_OWNER_HOST,
    LABEL_OWNER_PID,
    LABEL_OWNER_START,
    OwnerState,
    owner_state,
    this_owner,
)
from runner.backends.processes import pid_alive, process_start_time
from runner.env_reset import ENV_RUN_ID, reset_local
from runner.lock import lock_holder, run_lock


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _state(folder: Path, run_id: str, owner_pid: int, proc: subprocess.Popen[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"name": "memorykernel", "pid": proc.pid, "start_time": process_start_time(proc.pid)}
    data = {"owner_pid": owner_pid, "processes": [entry], "run_id": run_id}
    (folder / f"{run_id}.json").write_text(json.dumps(data))
    (folder / run_id).mkdir()


def test_owner_states() -> None:
    assert owner_state(this_owner()) is OwnerState.ALIVE
    assert owner_state({LABEL_OWNER_PID: str(_dead_pid())}) is OwnerState.GONE
    assert owner_state({}) is OwnerState.GONE
    reused = {**this_owner(), LABEL_OWNER_START: "1"}  # same pid, another process's start time
    assert owner_state(reused) is OwnerState.GONE
    elsewhere = {**this_owner(), LABEL_OWNER_HOST: socket.gethostname() + "-other"}
    assert owner_state(elsewhere) is OwnerState.ELSEWHERE


def test_lock_holder_sees_a_held_lock_only(tmp_path: Path) -> None:
    lock = tmp_path / "local.lock"
    assert lock_holder(lock) is None
    with run_lock(lock, "run-a"):
        assert lock_holder(lock) == "run-a"
    assert lock_holder(lock) is None


def test_a_live_owner_protects_its_run_and_a_dead_ones_is_swept(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        _state(tmp_path, "live-run", os.getpid(), sleeper)
        _state(tmp_path, "dead-run", _dead_pid(), other)
        lines: list[str] = []
        outcome = reset_local(tmp_path, announce=lines.append)
        assert outcome.spared == [("live-run", f"its runner (pid {os.getpid()}) is alive")]
        assert pid_alive(sleeper.pid) and (tmp_path / "live-run.json").exists()
        assert (tmp_path / "live-run").is_dir()
        other.wait(timeout=5)
        assert other.returncode == -signal.SIGKILL
        assert not (tmp_path / "dead-run.json").exists() and not (tmp_path / "dead-run").exists()
        assert lines == []
    finally:
        if other.poll() is None:
            other.kill()
        other.wait()


def test_a_held_lock_protects_a_run_whose_state_names_no_live_owner(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _state(tmp_path, "locked-run", _dead_pid(), sleeper)
    with run_lock(tmp_path / "local.lock", "locked-run"):
        outcome = reset_local(tmp_path, announce=lambda _line: None)
    assert [run for run, _why in outcome.spared] == ["locked-run"]
    assert "holds the run lock" in outcome.spared[0][1]
    assert pid_alive(sleeper.pid)


def test_all_removes_live_runs_too_and_says_so_first(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _state(tmp_path, "live-run", os.getpid(), sleeper)
    lines: list[str] = []
    outcome = reset_local(tmp_path, force=True, announce=lines.append)
    assert lines == [
        "--all: removing everything of 1 run(s), live ones too: "
        f"run live-run (live: its runner (pid {os.getpid()}) is alive)"
    ]
    sleeper.wait(timeout=5)
    assert f"process memorykernel (pid {sleeper.pid})" in outcome.removed
    assert outcome.spared == []


def test_only_the_named_runs_and_the_env_up_environment_counts_as_ownerless(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _state(tmp_path, ENV_RUN_ID, os.getpid(), sleeper)  # `env up` exited; its services live on
    untouched = subprocess.Popen(["sleep", "60"])
    try:
        _state(tmp_path, "other-dead-run", _dead_pid(), untouched)
        outcome = reset_local(tmp_path, only=[ENV_RUN_ID], announce=lambda _line: None)
        sleeper.wait(timeout=5)
        assert outcome.spared == []
        assert pid_alive(untouched.pid) and (tmp_path / "other-dead-run.json").exists()
    finally:
        untouched.kill()
        untouched.wait()
