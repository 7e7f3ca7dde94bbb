"""Suite overhead: a real `mkdrill run` wall time against the time its drills must take anyway.

The floor of a suite is the sum of its fault windows (the drills ask for them) and its measured
restores (the system under test decides those). Everything else is the runner's: process start,
plan, environment start and stop, steady state and verify, injections, report writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from runner.bench.load import LoadSpan, with_load
from runner.bench.services import console_script
from runner.bench.timing import read_report, timed_run
from runner.errors import EnvironmentProblem

# A subset that still exercises each kind of work: proxy toxics, consumer env, responder,
# process kill and restart, and a deploy of another release.
QUICK_DRILLS = (
    "degraded",
    "disabled",
    "latency-above-timeout",
    "offline-killed",
    "untyped-502",
    "version-mismatch-deploy",
)
PHASES = ("prepare", "steady", "inject", "observe", "recover", "verify")


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class SuiteRun:
    """Where one suite run's wall time went, in seconds."""

    drills: int
    passed: int
    wall_s: float
    windows_s: float
    restores_s: float
    outside_run_s: (
        float  # process start, imports, plan, lock, ledger, summary: before/after the record
    )
    environment_up_s: float  # record start → first drill
    between_drills_s: float  # gaps between drills: reports written after each drill
    after_last_drill_s: float  # environment down and the final reports
    phases_s: dict[str, float]
    load: LoadSpan | None = None  # the machine while the run ran

    @property
    def floor_s(self) -> float:
        """What the drills need whatever runs them: windows plus restores."""
        return self.windows_s + self.restores_s

    @property
    def overhead_s(self) -> float:
        return self.wall_s - self.floor_s

    @property
    def ratio(self) -> float:
        """Suite wall time ÷ (fault windows + restores); 1.0 would be a runner that costs nothing."""
        return self.wall_s / self.floor_s if self.floor_s > 0 else float("inf")


def suite_breakdown(
    report: dict[str, Any], wall_s: float, load: LoadSpan | None = None
) -> SuiteRun:
    """Split a run's wall time using its report.json (drill start stamps, phases, windows, restores)."""
    drills = report.get("drills") or []
    if not drills or not report.get("started_at") or not report.get("finished_at"):
        raise EnvironmentProblem("report.json has no finished run with drills to break down")
    run_start, run_end = _stamp(report["started_at"]), _stamp(report["finished_at"])
    windows = restores = between = 0.0
    phases = dict.fromkeys(PHASES, 0.0)
    previous_end: float | None = None
    first_start = _stamp(drills[0]["started_at"])
    for drill in drills:
        start = _stamp(drill["started_at"])
        if previous_end is not None:
            between += max(0.0, start - previous_end)
        previous_end = start + float(drill.get("duration_s") or 0.0)
        window = drill.get("fault_window")
        if window:
            windows += float(window["end_s"]) - float(window["start_s"])
        restore = drill.get("time_to_restore") or {}
        if restore.get("total_s") is not None:
            restores += float(restore["total_s"])
        for span in drill.get("phases", []):
            phases[span["phase"]] = (
                phases.get(span["phase"], 0.0) + float(span["end_s"]) - float(span["start_s"])
            )
    assert previous_end is not None
    return SuiteRun(
        drills=len(drills),
        passed=sum(1 for d in drills if d.get("verdict") == "passed"),
        wall_s=wall_s,
        windows_s=windows,
        restores_s=restores,
        outside_run_s=wall_s - (run_end - run_start),
        environment_up_s=first_start - run_start,
        between_drills_s=between,
        after_last_drill_s=max(0.0, run_end - previous_end),
        phases_s={name: round(value, 4) for name, value in phases.items()},
        load=load,
    )


def run_suite(
    workdir: Path,
    repetitions: int,
    drills: tuple[str, ...] = (),
    progress: Callable[[str], None] = lambda _line: None,
) -> list[SuiteRun]:
    """`mkdrill run [DRILLS]` (the nightly suite when none) `repetitions` times, each broken down."""
    runs: list[SuiteRun] = []
    for index in range(repetitions):
        folder = workdir / f"run-{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [console_script("mkdrill"), "run", *drills, "--out", str(folder)]
        (wall, code), load = with_load(
            partial(timed_run, argv, workdir, workdir / f"run-{index}.out", timeout_s=900.0)
        )
        run = suite_breakdown(read_report(folder), wall, load)
        runs.append(run)
        progress(
            f"suite {index + 1}/{repetitions}: {run.drills} drills, {run.passed} passed, "
            f"{wall:.1f} s wall, ratio {run.ratio:.2f} (exit {code}; {load.describe()})"
        )
    return runs
