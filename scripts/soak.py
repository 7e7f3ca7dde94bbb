"""Soak: run the nightly suite in a loop and watch the runner and its services for resource growth.

    python scripts/soak.py --minutes 30 --out /tmp/soak
    python scripts/soak.py --minutes 5 --drills offline-stopped,disabled --out /tmp/soak-short
    python scripts/soak.py --analyse /tmp/soak/soak.json --fds 8    # judge recorded samples again

Each iteration is one `mkdrill run` subprocess (`--out <dir>/<n>`, so all iterations share the
ledger and state folder of `<dir>`, as nightly runs share `reports/`). While it runs, every
`--interval` seconds the open file descriptors, threads, child processes and RSS of the runner and of
each reference service (the runner's `python -m runner serve ...` children) are sampled with psutil;
soak_analysis.py judges the samples (see scripts/README.md). Everything lands in `<dir>/soak.json`.

No new iteration starts after `--minutes`; the one in flight finishes, bounded by
`--iteration-timeout`. Ctrl-C (or SIGTERM) interrupts the run in flight, lets it clean up, and still
writes the verdict (exit 130). Exit 1 when growth was flagged or a run left processes behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import psutil
from soak_analysis import (
    Iteration,
    ProcessSample,
    Thresholds,
    format_iteration,
    format_verdict,
    iteration_from_json,
    iteration_json,
    judge,
    peaks,
    role_of,
    trends_json,
    within_run,
)

MIB = 1024 * 1024
RUNNER_STOP_GRACE_S = 60.0


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


def write_report(
    out: Path,
    iterations: list[Iteration],
    thresholds: Thresholds,
    minutes: float,
    interrupted: bool,
) -> int:
    """Print the verdict, write soak.json; the exit code."""
    verdict = judge(iterations, thresholds)
    print(f"\n== soak: {len(iterations)} runs in {minutes:.1f} min")
    print(format_verdict(verdict))
    report = {
        "argv": sys.argv,
        "minutes": round(minutes, 2),
        "interrupted": interrupted,
        "thresholds": asdict(thresholds),
        "across_runs_levels": trends_json(verdict.levels),
        "across_runs_peaks": trends_json(verdict.peaks),
        "within_run_flagged_runs": verdict.within_flagged_runs,
        "findings": verdict.findings,
        "iterations": [iteration_json(it) for it in iterations],
    }
    tmp = out / "soak.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out / "soak.json")
    print(f"written: {out / 'soak.json'}")
    if interrupted:
        return 130
    return 1 if verdict.findings else 0


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
    minutes = (time.monotonic() - soak_start) / 60.0
    return write_report(args.out, iterations, thresholds, minutes, interrupted)


def analyse(path: Path, thresholds: Thresholds) -> int:
    """Judge the samples of a written soak.json again (other thresholds, newer rules); writes nothing."""
    data = json.loads(path.read_text())
    iterations = [iteration_from_json(it, thresholds) for it in data["iterations"]]
    for iteration in iterations:
        print("\n" + format_iteration(iteration))
    print(f"\n== soak {path}: {len(iterations)} runs in {data['minutes']:.1f} min")
    verdict = judge(iterations, thresholds)
    print(format_verdict(verdict))
    return 1 if verdict.findings else 0


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
    parser.add_argument(
        "--analyse", type=Path, help="judge this soak.json again instead of running"
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.max_iterations < 1 or args.interval <= 0:
        parser.error("--minutes, --max-iterations and --interval must be positive")
    args.out = args.out.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    thresholds = Thresholds(args.rss_pct, args.fds, args.threads, args.children)
    if args.analyse:
        return analyse(args.analyse, thresholds)
    return soak(args)


if __name__ == "__main__":
    sys.exit(main())
