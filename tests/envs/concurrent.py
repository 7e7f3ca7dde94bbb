"""A live run in a subprocess, for `env reset` to run beside: start it, find its run id, wait for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.engine.conftest import mkdrill as run_mkdrill

REPO = Path(__file__).resolve().parents[2]
LONG_DRILL = """\
name: long-window
description: No fault for 8 s; enriched throughout, so anything a reset beside it breaks shows.
suites: [nightly]
fault: {kind: none}
window_s: 8
expect:
  during: enriched
recover: {kind: remove_fault, budget_s: 5}
"""


def mkdrill(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`mkdrill ARGS` in `cwd`, to completion."""
    return run_mkdrill(*args, cwd=cwd, timeout=timeout)


def start_live_run(cwd: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """`mkdrill run` of one 8 s drill, in the background."""
    drill = cwd / "long-window.yaml"
    drill.write_text(LONG_DRILL, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "run", str(drill), "--out", str(out), *extra],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_observing(
    run: subprocess.Popen[str],
    out: Path,
    up: Callable[[str], bool] | None = None,
    timeout_s: float = 180,
) -> str:
    """The run id, once its environment is up (`up(run_id)`; default: its local processes) and 2 s on."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert run.poll() is None, (
            "the live run ended early: " + (run.communicate()[1] or "")[-2000:]
        )
        report = out / "report.json"
        if report.exists():
            data = json.loads(report.read_text() or "{}")
            ready = up or (lambda run_id: _local_up(out.parent / ".state", run_id))
            if data.get("run_id") and ready(data["run_id"]):
                time.sleep(2.0)  # well inside the 8 s window
                return str(data["run_id"])
        time.sleep(0.1)
    raise AssertionError(f"the live run did not start within {timeout_s:.0f} s")


def _local_up(state: Path, run_id: str) -> bool:
    path = state / f"{run_id}.json"
    if not path.exists():
        return False
    try:
        return len(json.loads(path.read_text()).get("processes", [])) >= 3
    except ValueError:
        return False


def finish(run: subprocess.Popen[str], out: Path) -> dict[str, object]:
    """Wait for the live run; its report."""
    stdout, stderr = run.communicate(timeout=180)
    assert run.returncode == 0, stdout[-3000:] + stderr[-2000:]
    report: dict[str, object] = json.loads((out / "report.json").read_text())
    return report
