"""Soak: run the nightly suite in a loop and watch the runner and its services for resource growth.

    python scripts/soak.py --minutes 30 --out /tmp/soak
    python scripts/soak.py --minutes 5 --drills offline-stopped,disabled --out /tmp/soak-short

Each iteration is one `mkdrill run` subprocess (`--out <dir>/<n>`, so all iterations share the
ledger and state folder of `<dir>`, as nightly runs share `reports/`). While it runs, every
`--interval` seconds the open file descriptors, threads, child processes and RSS of the runner and of
each reference service (the runner's `python -m runner serve ...` children) are sampled with psutil.

Within a run, each role's longest-lived process is compared early (median of its first third of
samples) against late (median of its last third). Across runs, each role's peak per iteration is
fitted by least squares against time (slope per hour) and its first and last iterations compared.
Growth beyond the thresholds is flagged; the verdict, every sample and every summary land in
`<dir>/soak.json`. No new iteration starts after `--minutes`; the one in flight finishes, bounded by
`--iteration-timeout`. Ctrl-C (or SIGTERM) interrupts the run in flight, lets it clean up, and still
writes the verdict (exit 130). Exit 1 when growth was flagged or a run left processes behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

ROLES = ("runner", "memorykernel", "assistsupport", "toxiproxy", "responder")
METRICS = ("fds", "threads", "children", "rss_mb")
SERVICE_ROLES = frozenset(ROLES[1:])
MIB = 1024 * 1024
RUNNER_STOP_GRACE_S = 60.0


# Pure parts: classification, fits, growth rules, summaries (unit-tested) ---------------------------


@dataclass(frozen=True)
class Thresholds:
    """How much growth is flagged: RSS in percent of the start, counts in absolute units."""

    rss_pct: float = 10.0
    fds: float = 5.0
    threads: float = 5.0
    children: float = 2.0

    def exceeded(self, metric: str, start: float, end: float) -> bool:
        """Whether going from `start` to `end` is growth beyond the threshold of `metric`."""
        if metric == "rss_mb":
            return start > 0 and (end - start) / start * 100.0 > self.rss_pct
        limit: float = getattr(self, metric)
        return end - start > limit


@dataclass(frozen=True)
class ProcessSample:
    """One process at one instant; `t` is seconds since the soak started."""

    role: str
    pid: int
    t: float
    fds: int
    threads: int
    children: int
    rss_mb: float

    def value(self, metric: str) -> float:
        return float(getattr(self, metric))


@dataclass(frozen=True)
class Trend:
    """A metric from `start` to `end`, with its least-squares slope per hour."""

    start: float
    end: float
    slope_per_hour: float
    flagged: bool = False

    @property
    def change(self) -> float:
        return self.end - self.start


def role_of(cmdline: Sequence[str]) -> str:
    """Which service a process is, from its command line; `other` for anything else (a probe command)."""
    args = list(cmdline)
    for index, arg in enumerate(args[:-1]):
        if arg == "serve" and args[index + 1] in SERVICE_ROLES:
            return args[index + 1]
    if args and Path(args[0]).name.startswith("toxiproxy-server"):
        return "toxiproxy"
    return "other"


def linear_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of ys over xs; 0 when it is undefined (fewer than 2 distinct xs)."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} xs for {len(ys)} ys")
    if len(xs) < 2:
        return 0.0
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def settled_ends(values: Sequence[float], warmup: float = 0.25) -> tuple[float, float]:
    """Early and late level of a series after its warm-up: medians of the first and last thirds of
    what follows the first `warmup` fraction (start-up allocations and spikes do not count)."""
    if not values:
        raise ValueError("no values")
    settled = values[int(len(values) * warmup) :] or values
    third = max(1, len(settled) // 3)
    return statistics.median(settled[:third]), statistics.median(settled[-third:])


def environment_window(samples: Sequence[ProcessSample]) -> tuple[float, float]:
    """From the first to the last instant a service ran: the runner outside it is importing or exiting."""
    times = [s.t for s in samples if s.role in SERVICE_ROLES] or [s.t for s in samples]
    return (min(times), max(times)) if times else (0.0, 0.0)


def within_run(
    samples: Sequence[ProcessSample], thresholds: Thresholds, min_samples: int = 8
) -> dict[str, dict[str, Trend]]:
    """Per role and metric: early → late of the role's longest-lived process while the environment
    was up in one run, with the least-squares slope over that time."""
    first, last = environment_window(samples)
    by_pid: dict[tuple[str, int], list[ProcessSample]] = {}
    for sample in samples:
        if first <= sample.t <= last:
            by_pid.setdefault((sample.role, sample.pid), []).append(sample)
    result: dict[str, dict[str, Trend]] = {}
    for role in ROLES:
        instances = [series for (r, _pid), series in by_pid.items() if r == role]
        if not instances:
            continue
        series = max(instances, key=len)
        if len(series) < min_samples:
            continue
        hours = [s.t / 3600.0 for s in series]
        result[role] = {}
        for metric in METRICS:
            values = [s.value(metric) for s in series]
            start, end = settled_ends(values)
            result[role][metric] = Trend(
                start, end, linear_slope(hours, values), thresholds.exceeded(metric, start, end)
            )
    return result


def peaks(samples: Sequence[ProcessSample]) -> dict[str, dict[str, float]]:
    """Per role and metric, the highest value in one run (all of the role's processes together)."""
    per_tick: dict[tuple[str, float], dict[str, float]] = {}
    for sample in samples:
        totals = per_tick.setdefault((sample.role, sample.t), dict.fromkeys(METRICS, 0.0))
        for metric in METRICS:
            totals[metric] += sample.value(metric)
    result: dict[str, dict[str, float]] = {}
    for (role, _t), totals in per_tick.items():
        if role not in ROLES:
            continue
        best = result.setdefault(role, dict.fromkeys(METRICS, 0.0))
        for metric in METRICS:
            best[metric] = max(best[metric], totals[metric])
    return result


def across_runs(
    midpoints_s: Sequence[float],
    run_peaks: Sequence[dict[str, dict[str, float]]],
    thresholds: Thresholds,
) -> dict[str, dict[str, Trend]]:
    """Per role and metric: the peaks of the first and last runs and the fitted slope per hour.

    Flagged only when both the last run exceeds the first by more than the threshold and the fitted
    line rises by more than the threshold over the soak: one noisy run alone is not a leak.
    """
    result: dict[str, dict[str, Trend]] = {}
    for role in ROLES:
        points = [(t, p[role]) for t, p in zip(midpoints_s, run_peaks, strict=True) if role in p]
        if not points:
            continue
        hours = [t / 3600.0 for t, _ in points]
        span_h = hours[-1] - hours[0]
        result[role] = {}
        for metric in METRICS:
            values = [p[metric] for _, p in points]
            slope = linear_slope(hours, values)
            first, last = values[0], values[-1]
            fitted_end = first + slope * span_h
            flagged = (
                len(values) >= 2
                and thresholds.exceeded(metric, first, last)
                and thresholds.exceeded(metric, first, fitted_end)
            )
            result[role][metric] = Trend(first, last, slope, flagged)
    return result


def within_run_flags(runs: Sequence[dict[str, dict[str, Trend]]]) -> dict[str, dict[str, int]]:
    """Per role and metric, in how many runs growth within the run was flagged."""
    counts: dict[str, dict[str, int]] = {}
    for run in runs:
        for role, metrics in run.items():
            for metric, trend in metrics.items():
                role_counts = counts.setdefault(role, dict.fromkeys(METRICS, 0))
                role_counts[metric] += int(trend.flagged)
    return counts


def findings(
    across: dict[str, dict[str, Trend]],
    within_counts: dict[str, dict[str, int]],
    runs: int,
    leftovers: int,
) -> list[str]:
    """What the verdict flags: cross-run growth, within-run growth in most runs, leftover processes."""
    found = [
        f"{role} {metric}: {t.start:g} → {t.end:g} across runs ({t.slope_per_hour:+.2f}/h)"
        for role, metrics in across.items()
        for metric, t in metrics.items()
        if t.flagged
    ]
    found += [
        f"{role} {metric}: grew within {count} of {runs} runs"
        for role, counts in within_counts.items()
        for metric, count in counts.items()
        if count > 0 and count * 2 > runs
    ]
    if leftovers:
        found.append(f"{leftovers} service processes outlived their run")
    return found


def format_trends(trends: dict[str, dict[str, Trend]], label: str) -> str:
    """A table: one row per role and metric, start → end and slope per hour."""
    lines = [f"{'role':<14}{'metric':<10}{label + ' start':>14}{'end':>10}{'slope/h':>12}  flag"]
    for role, metrics in trends.items():
        for metric, t in metrics.items():
            lines.append(
                f"{role:<14}{metric:<10}{t.start:>14.1f}{t.end:>10.1f}{t.slope_per_hour:>+12.2f}"
                f"  {'GROWTH' if t.flagged else ''}"
            )
    return "\n".join(lines)


# Sampling -------------------------------------------------------------------------------------------


@dataclass
class Iteration:
    """One `mkdrill run`: outcome, leftovers, and what the samples showed."""

    index: int
    exit_code: int | None
    interrupted: bool
    started_s: float
    duration_s: float
    drills: dict[str, int]
    leftover_processes: list[str]
    leftover_state_files: list[str]
    peaks: dict[str, dict[str, float]]
    within: dict[str, dict[str, Trend]]
    samples: list[ProcessSample] = field(repr=False)


def sample_tree(runner: psutil.Process, t: float) -> list[ProcessSample]:
    """The runner and each of its descendants now; processes that vanish mid-read are skipped."""
    try:
        processes = [(runner, "runner"), *((c, "") for c in runner.children(recursive=True))]
    except psutil.Error:
        return []
    samples = []
    for process, known_role in processes:
        try:
            with process.oneshot():
                samples.append(
                    ProcessSample(
                        role=known_role or role_of(process.cmdline()),
                        pid=process.pid,
                        t=round(t, 3),
                        fds=process.num_fds(),
                        threads=process.num_threads(),
                        children=len(process.children(recursive=True)),
                        rss_mb=round(process.memory_info().rss / MIB, 2),
                    )
                )
        except psutil.Error:
            continue
    return samples


def still_alive(seen: dict[int, float]) -> list[str]:
    """Which of the (pid, create_time) processes seen during a run still exist after it."""
    alive = []
    for pid, created in seen.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{role_of(process.cmdline())} pid {pid}")
    return alive


def drill_counts(report: Path) -> dict[str, int]:
    """Drill verdicts of one run's report.json: {"passed": n, "failed": m, ...}."""
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        for drill in json.loads(report.read_text()).get("drills", []):
            counts[drill["verdict"]] = counts.get(drill["verdict"], 0) + 1
    return counts


class SoakStopped(Exception):
    """Ctrl-C or SIGTERM: stop the run in flight and write the verdict."""


def _raise_stopped(_signum: int, _frame: FrameType | None) -> None:
    raise SoakStopped


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_runner(process: subprocess.Popen[bytes], out: Path) -> None:
    """SIGINT the runner (it cleans up and reports `interrupted`); kill and sweep if it does not end."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=RUNNER_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        subprocess.run(
            [sys.executable, "-m", "runner", "env", "reset", "--reports", str(out)],
            check=False,
            timeout=60,
        )


def run_iteration(
    args: argparse.Namespace, index: int, soak_start: float, thresholds: Thresholds
) -> Iteration:
    """One `mkdrill run`, sampled every `args.interval` seconds until it exits."""
    out: Path = args.out
    selection = ["--suite", args.suite] if not args.drills else args.drills.split(",")
    argv = [sys.executable, "-m", "runner", "run", *selection, "--out", str(out / str(index))]
    started = time.monotonic()
    samples: list[ProcessSample] = []
    seen: dict[int, float] = {}
    interrupted = False
    with (out / f"{index}.log").open("wb") as log:
        # Its own session: a terminal's Ctrl-C reaches only the soak, which forwards exactly one
        # SIGINT (a second one would make the runner skip its cleanup).
        process = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        runner = psutil.Process(process.pid)
        deadline = started + args.iteration_timeout
        while process.poll() is None and time.monotonic() < deadline:
            tick = sample_tree(runner, time.monotonic() - soak_start)
            samples += tick
            for sample in tick:
                if sample.role != "runner":
                    with contextlib.suppress(psutil.Error):
                        seen[sample.pid] = psutil.Process(sample.pid).create_time()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=args.interval)
        if process.poll() is None:
            print(f"iteration {index} passed --iteration-timeout; interrupting it", flush=True)
            stop_runner(process, out)
    except SoakStopped:
        interrupted = True
        stop_runner(process, out)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    state_files = sorted(p.name for p in (out / ".state").glob("*.json"))
    return Iteration(
        index=index,
        exit_code=process.returncode,
        interrupted=interrupted,
        started_s=round(started - soak_start, 3),
        duration_s=round(time.monotonic() - started, 3),
        drills=drill_counts(out / str(index) / "report.json"),
        leftover_processes=still_alive(seen),
        leftover_state_files=state_files,
        peaks=peaks(samples),
        within=within_run(samples, thresholds),
        samples=samples,
    )


def format_iteration(it: Iteration) -> str:
    """One run as a table: per role, each metric early → late (peak); `!` marks flagged growth."""
    drills = ", ".join(f"{k} {v}" for k, v in sorted(it.drills.items())) or "no report"
    lines = [
        f"== run {it.index}: exit {it.exit_code}{' (interrupted)' if it.interrupted else ''}, "
        f"{it.duration_s:.0f} s, {drills}",
        f"{'role':<14}" + "".join(f"{m:<22}" for m in METRICS),
    ]
    for role in ROLES:
        if role not in it.peaks:
            continue
        cells = []
        for metric in METRICS:
            peak = it.peaks[role][metric]
            trend = it.within.get(role, {}).get(metric)
            cell = f"{trend.start:.4g}→{trend.end:.4g}" if trend else "-"
            cells.append(f"{cell} ({peak:.4g}){'!' if trend and trend.flagged else ''}")
        lines.append(f"{role:<14}" + "".join(f"{c:<22}" for c in cells))
    if it.leftover_processes or it.leftover_state_files:
        lines.append(f"LEFTOVERS: {it.leftover_processes} {it.leftover_state_files}")
    return "\n".join(lines)


def trends_json(trends: dict[str, dict[str, Trend]]) -> dict[str, Any]:
    return {role: {m: asdict(t) for m, t in metrics.items()} for role, metrics in trends.items()}


def soak(args: argparse.Namespace) -> int:
    """The loop; returns the exit code (0 clean, 1 growth or leftovers, 130 interrupted)."""
    thresholds = Thresholds(args.rss_pct, args.fds, args.threads, args.children)
    args.out.mkdir(parents=True, exist_ok=True)
    soak_start = time.monotonic()
    deadline = soak_start + args.minutes * 60.0
    iterations: list[Iteration] = []
    interrupted = False
    with stop_on_signals():
        try:
            while len(iterations) < args.max_iterations and time.monotonic() < deadline:
                iteration = run_iteration(args, len(iterations) + 1, soak_start, thresholds)
                iterations.append(iteration)
                print("\n" + format_iteration(iteration), flush=True)
                if iteration.interrupted:
                    raise SoakStopped
        except SoakStopped:
            interrupted = True
            print("\nstopped: the run in flight was interrupted and cleaned up", flush=True)
    whole = [it for it in iterations if not it.interrupted]  # a cut-short run has lower peaks
    midpoints = [it.started_s + it.duration_s / 2 for it in whole]
    across = across_runs(midpoints, [it.peaks for it in whole], thresholds)
    within_counts = within_run_flags([it.within for it in whole])
    leftovers = sum(len(it.leftover_processes) for it in iterations)
    found = findings(across, within_counts, len(whole), leftovers)
    elapsed_min = (time.monotonic() - soak_start) / 60.0
    print(f"\n== soak: {len(iterations)} runs in {elapsed_min:.1f} min; peaks per run")
    print(format_trends(across, "first"))
    print("verdict: " + ("; ".join(found) if found else "no growth beyond the thresholds"))
    report = {
        "argv": sys.argv,
        "minutes": round(elapsed_min, 2),
        "interrupted": interrupted,
        "thresholds": asdict(thresholds),
        "across_runs": trends_json(across),
        "within_run_flagged_runs": within_counts,
        "findings": found,
        "iterations": [
            {
                **{k: v for k, v in asdict(it).items() if k not in ("within", "samples")},
                "within": trends_json(it.within),
                "samples": [asdict(s) for s in it.samples],
            }
            for it in iterations
        ],
    }
    (args.out / "soak.json").write_text(json.dumps(report, indent=1))
    print(f"written: {args.out / 'soak.json'}")
    if interrupted:
        return 130
    return 1 if found else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=30.0, help="start no run after this")
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("/tmp/soak"))
    parser.add_argument("--suite", default="nightly")
    parser.add_argument("--drills", default="", help="comma-separated drill names instead")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--iteration-timeout", type=float, default=1200.0, help="seconds")
    parser.add_argument("--rss-pct", type=float, default=Thresholds.rss_pct)
    parser.add_argument("--fds", type=float, default=Thresholds.fds)
    parser.add_argument("--threads", type=float, default=Thresholds.threads)
    parser.add_argument("--children", type=float, default=Thresholds.children)
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.max_iterations < 1 or args.interval <= 0:
        parser.error("--minutes, --max-iterations and --interval must be positive")
    args.out = args.out.resolve()
    return args


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(soak(parse_args()))
