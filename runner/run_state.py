"""Where environments record what they started, and sweeping what one killed run left behind."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from runner.backends.processes import sweep_state
from runner.lock import run_lock


def state_dir(reports_root: Path) -> Path:
    """Where environments record what they started, for `mkdrill env reset`."""
    return reports_root / ".state"


def sweep_run(backend: str, reports_root: Path, run_id: str) -> list[str]:
    """Remove what one run left behind: its processes (local) or labelled resources (compose)."""
    removed: list[str] = []
    if backend == "local":
        state = state_dir(reports_root) / f"{run_id}.json"
        if state.exists():
            removed.extend(sweep_state(state))
        scratch = state_dir(reports_root) / run_id
        if scratch.is_dir():
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(f"files {scratch}")
    else:
        from runner.backends.docker_sweep import reset_all

        removed.extend(reset_all(run_id=run_id))
    return removed


@contextlib.contextmanager
def environment_lock(backend: str, reports_root: Path, run_id: str) -> Iterator[None]:
    """Hold the backend's lock for a run or rehearsal; what a killed holder left is swept first."""
    with run_lock(state_dir(reports_root) / f"{backend}.lock", run_id) as stale:
        if stale:
            swept = sweep_run(backend, reports_root, stale)
            if swept:
                print(
                    f"took over the lock of killed run {stale}; swept: {', '.join(swept)}",
                    file=sys.stderr,
                )
        yield
