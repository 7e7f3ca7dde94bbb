"""CLI start: wall time of `mkdrill --help` and `mkdrill list`, each a fresh process."""

from __future__ import annotations

import subprocess
import time
from functools import partial

from runner.bench.load import LoadSpan, with_load
from runner.bench.services import console_script
from runner.bench.stats import Figure, figure
from runner.errors import EnvironmentProblem

COMMANDS = (("--help",), ("list",))
TIMEOUT_S = 30.0


def time_command(argv: list[str], runs: int) -> Figure:
    """Median/min/max seconds of `runs` runs of `argv`; each must exit 0."""
    walls: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, timeout=TIMEOUT_S, check=False, stdin=subprocess.DEVNULL
        )
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise EnvironmentProblem(
                f"{' '.join(argv)} exited {done.returncode}: "
                f"{done.stderr.decode(errors='replace').strip()[-200:]}"
            )
    return figure(walls, "s")


def cli_start(runs: int) -> tuple[str, dict[str, tuple[Figure, LoadSpan]]]:
    """The console script used and, per command, its wall time and the load meanwhile."""
    script = console_script("mkdrill")
    time_command([script, "--help"], 1)  # warm the page cache and bytecode once, not measured
    return script, {
        " ".join(args): with_load(partial(time_command, [script, *args], runs)) for args in COMMANDS
    }
