"""Mutants: a real `mkdrill mutants` in quick mode and in full mode, each timed as a whole.

Quick mode stops each mutant at its first catch (the likeliest drills first) and is what a nightly
job runs; full mode runs every drill against every mutant. Both run the same drills and mutants
back to back, each in a fresh process with its own environment, on the embedded default (the
pin's own consumer timeout); the figures are wall time, where it went (setup, the healthy
consumer, the mutants, from the run's report.json) and how many drill runs each mode needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from runner.bench.load import LoadSpan, with_load
from runner.bench.services import console_script
from runner.bench.timing import read_report, timed_run
from runner.errors import EnvironmentProblem

MODES = ("quick", "full")
# The quick bench: drills whose faults each provoke one of these mutants, and a control.
QUICK_MUTANT_DRILLS = ("disabled", "junk-page", "typed-500-query-failed", "latency-below-timeout")
QUICK_MUTANTS = ("disabled-flag-ignored", "malformed-crashes-draft", "routes-by-legacy-error")
MUTANTS_TIMEOUT_S = 4 * 3600.0  # the nightly matrix in full mode on a busy machine


@dataclass(frozen=True)
class MutantsTiming:
    """One `mkdrill mutants` as measured: its wall time and what its report.json says."""

    mode: str
    exit_code: int
    wall_s: float  # spawn to exit
    phases_s: dict[str, float]  # setup_s, healthy_s, mutants_s (from report.json)
    drill_runs: int  # every drill run, the healthy consumer's included
    mutant_runs: int  # drill runs against a mutant
    passed: bool
    survivors: list[str]
    no_teeth: list[str]
    red_on_healthy: list[str]
    mutants: int
    drills: int
    load: LoadSpan | None = None


def mutants_breakdown(
    report: dict[str, Any], mode: str, wall_s: float, exit_code: int, load: LoadSpan | None = None
) -> MutantsTiming:
    """A mutants run's figures from its report.json (schema mkdrill-mutants)."""
    if report.get("schema") != "mkdrill-mutants" or report.get("state") != "finished":
        raise EnvironmentProblem(
            f"mkdrill mutants ({mode} mode) did not finish: report state "
            f"{report.get('state')!r}, {report.get('error') or 'no error recorded'}"
        )
    if report.get("mode") != mode:
        raise EnvironmentProblem(
            f"mkdrill mutants: asked for {mode} mode, its report.json says {report.get('mode')!r}"
        )
    cells = report.get("cells") or []
    verdict = report.get("verdict") or {}
    return MutantsTiming(
        mode=mode,
        exit_code=exit_code,
        wall_s=wall_s,
        phases_s={k: float(v) for k, v in (report.get("phases_s") or {}).items()},
        drill_runs=len(cells),
        mutant_runs=sum(1 for c in cells if c.get("defect") != "none"),
        passed=bool(verdict.get("passed")),
        survivors=list(verdict.get("survivors") or []),
        no_teeth=list(verdict.get("no_teeth") or []),
        red_on_healthy=list(verdict.get("red_on_healthy") or []),
        mutants=len(report.get("mutants") or []),
        drills=len(report.get("drills") or []),
        load=load,
    )


def mutants_argv(mode: str, drills: Sequence[str], mutants: Sequence[str], out: Path) -> list[str]:
    """`mkdrill mutants [DRILLS] [--mutant M]… [--full] --out OUT` (the nightly suite when none)."""
    argv = [console_script("mkdrill"), "mutants", *drills]
    for name in mutants:
        argv += ["--mutant", name]
    if mode == "full":
        argv.append("--full")
    return [*argv, "--out", str(out)]


def run_mutants(
    workdir: Path,
    repetitions: int,
    drills: tuple[str, ...] = (),
    mutants: tuple[str, ...] = (),
    progress: Callable[[str], None] = lambda _line: None,
    on_run: Callable[[list[MutantsTiming]], None] = lambda _runs: None,
) -> list[MutantsTiming]:
    """Quick mode then full mode, `repetitions` times, each in its own process and environment.

    `on_run` is told the runs so far after each one (bench.json is rewritten meanwhile: the full
    matrix can take the better part of an hour).
    """
    runs: list[MutantsTiming] = []
    workdir.mkdir(parents=True, exist_ok=True)
    for index in range(repetitions):
        for mode in MODES:
            folder = workdir / f"{mode}-{index}"
            argv = mutants_argv(mode, drills, mutants, folder)
            (wall, code), load = with_load(
                partial(
                    timed_run,
                    argv,
                    workdir,
                    workdir / f"{mode}-{index}.out",
                    timeout_s=MUTANTS_TIMEOUT_S,
                )
            )
            run = mutants_breakdown(read_report(folder), mode, wall, code, load)
            runs.append(run)
            on_run(list(runs))
            progress(
                f"mutants {mode} {index + 1}/{repetitions}: {run.drills} drills × {run.mutants} "
                f"mutants, {run.drill_runs} drill runs, {wall:.1f} s wall, "
                f"{'passed' if run.passed else 'failed'} (exit {code}; {load.describe()})"
            )
    return runs
