"""The pure parts of the soak: process roles, least-squares fits, growth rules, per-run and cross-run
verdicts, and their tables. No processes, no clock: everything here works on recorded samples."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("runner", "memorykernel", "assistsupport", "toxiproxy", "responder")
METRICS = ("fds", "threads", "children", "rss_mb")
SERVICE_ROLES = frozenset(ROLES[1:])


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


def levels(within: dict[str, dict[str, Trend]]) -> dict[str, dict[str, float]]:
    """Per role and metric, the settled late level of one run (what a leak would raise run by run)."""
    return {role: {m: t.end for m, t in metrics.items()} for role, metrics in within.items()}


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


def format_trends(trends: dict[str, dict[str, Trend]], flags: bool = True) -> str:
    """A table: one row per role and metric, first run → last run and the slope per hour."""
    lines = [f"{'role':<14}{'metric':<10}{'first':>10}{'last':>10}{'slope/h':>12}"]
    for role, metrics in trends.items():
        for metric, t in metrics.items():
            mark = "  GROWTH" if flags and t.flagged else ""
            lines.append(
                f"{role:<14}{metric:<10}{t.start:>10.1f}{t.end:>10.1f}{t.slope_per_hour:>+12.2f}{mark}"
            )
    return "\n".join(lines)


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


@dataclass(frozen=True)
class SoakVerdict:
    """The whole soak: late levels and peaks across runs, within-run flag counts, and the findings.

    Flags come from the late levels only: a peak is mostly how many connections were open at the
    sampled instant (a hang drill holds dozens), not what stayed behind.
    """

    levels: dict[str, dict[str, Trend]]
    peaks: dict[str, dict[str, Trend]]
    within_flagged_runs: dict[str, dict[str, int]]
    runs: int
    findings: list[str]


def judge(iterations: Sequence[Iteration], thresholds: Thresholds) -> SoakVerdict:
    """The verdict over the whole runs (a run cut short by Ctrl-C is left out of the trends)."""
    whole = [it for it in iterations if not it.interrupted]
    midpoints = [it.started_s + it.duration_s / 2 for it in whole]
    level_trends = across_runs(midpoints, [levels(it.within) for it in whole], thresholds)
    peak_trends = across_runs(midpoints, [it.peaks for it in whole], thresholds)
    within_counts = within_run_flags([it.within for it in whole])
    leftovers = sum(len(it.leftover_processes) for it in iterations)
    found = findings(level_trends, within_counts, len(whole), leftovers)
    return SoakVerdict(level_trends, peak_trends, within_counts, len(whole), found)


def format_verdict(verdict: SoakVerdict) -> str:
    return "\n".join(
        [
            "late level per run (median of the last third while the environment is up):",
            format_trends(verdict.levels),
            "peak per run (for reference; not flagged):",
            format_trends(verdict.peaks, flags=False),
            "verdict: "
            + (
                "; ".join(verdict.findings)
                if verdict.findings
                else "no growth beyond the thresholds"
            ),
        ]
    )


def iteration_json(it: Iteration) -> dict[str, Any]:
    return {
        **{k: v for k, v in asdict(it).items() if k not in ("within", "samples")},
        "within": trends_json(it.within),
        "samples": [asdict(s) for s in it.samples],
    }


def iteration_from_json(data: dict[str, Any], thresholds: Thresholds) -> Iteration:
    """An iteration of a written soak.json, its summaries recomputed from its samples."""
    samples = [ProcessSample(**s) for s in data["samples"]]
    return Iteration(
        index=data["index"],
        exit_code=data["exit_code"],
        interrupted=data["interrupted"],
        started_s=data["started_s"],
        duration_s=data["duration_s"],
        drills=data["drills"],
        leftover_processes=data["leftover_processes"],
        leftover_state_files=data["leftover_state_files"],
        peaks=peaks(samples),
        within=within_run(samples, thresholds),
        samples=samples,
    )
