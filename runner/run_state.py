"""Where environments record what they started, and sweeping what one killed run left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.backends.processes import sweep_state


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
