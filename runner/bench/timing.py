"""Timed child processes for the benchmarks: wall time from spawn to exit, bounded, output kept."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from runner.errors import EnvironmentProblem

RUN_TIMEOUT_S = 120.0


def timed_run(
    argv: list[str], cwd: Path, output: Path, timeout_s: float = RUN_TIMEOUT_S
) -> tuple[float, int]:
    """Run to completion; (wall seconds from spawn to exit, exit code). Output goes to `output`."""
    with output.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.wait(timeout=10)
            raise EnvironmentProblem(
                f"{' '.join(argv[:3])} did not finish within {timeout_s:.0f} s (output: {output})"
            ) from exc
        wall = time.perf_counter() - started
    return wall, code


def read_report(folder: Path) -> dict[str, Any]:
    """A run folder's report.json."""
    try:
        data: dict[str, Any] = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"no readable report.json in {folder}: {exc}") from exc
    return data
