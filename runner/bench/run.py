"""`mkdrill bench`: every benchmark in order, bench.json rewritten (atomically) after each section."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner import __version__
from runner.bench.cli_start import cli_start
from runner.bench.load import snapshot
from runner.bench.mutants import QUICK_MUTANT_DRILLS, QUICK_MUTANTS, run_mutants
from runner.bench.peer import run_peers
from runner.bench.probe_cost import RATES_HZ, ProbeCost, measure_probe_cost
from runner.bench.proxy_rounds import FULL, QUICK, ProxyOptions, proxy_figures
from runner.bench.restore_accuracy import RESTORE_DELAY_S, RestoreTrial, restore_trials
from runner.bench.results import (
    RESTORE_ROUND_TRIALS,
    SCHEMA,
    Json,
    cli_section,
    headline,
    mutants_section,
    peer_section,
    probe_section,
    proxy_section,
    restore_section,
    suite_section,
    write_bench_json,
)
from runner.bench.services import shared_services
from runner.bench.suite import QUICK_DRILLS, run_suite
from runner.bench.verdicts import changes_between, goals_json
from runner.errors import DefinitionError

# A restore far shorter than the watch's own start-up shows its fixed cost, which 2 s hides.
SHORT_RESTORE_S = 0.1
SECTIONS = ("cli", "proxy", "peer", "restore", "probe", "suite", "mutants")


@dataclass(frozen=True)
class BenchPlan:
    """How many repetitions each section makes."""

    quick: bool
    peer_rounds: int
    own_environment_runs: bool
    suite_repetitions: int
    suite_drills: tuple[str, ...]
    restore_rounds: int
    restore_round_trials: int
    short_restore_trials: int
    probe_repetitions: int
    proxy: ProxyOptions
    cli_runs: int
    mutants_repetitions: int = 1
    mutant_drills: tuple[str, ...] = ()  # none: the nightly suite
    mutant_defects: tuple[str, ...] = ()  # none: every mutant of the catalog


QUICK_PLAN = BenchPlan(
    quick=True,
    peer_rounds=3,
    own_environment_runs=True,
    suite_repetitions=2,
    suite_drills=QUICK_DRILLS,
    restore_rounds=2,
    restore_round_trials=10,
    short_restore_trials=5,
    probe_repetitions=2,
    proxy=QUICK,
    cli_runs=10,
    mutant_drills=QUICK_MUTANT_DRILLS,
    mutant_defects=QUICK_MUTANTS,
)
FULL_PLAN = BenchPlan(
    quick=False,
    peer_rounds=5,
    own_environment_runs=True,
    suite_repetitions=3,
    suite_drills=(),
    restore_rounds=3,
    restore_round_trials=RESTORE_ROUND_TRIALS,
    short_restore_trials=10,
    probe_repetitions=3,
    proxy=FULL,
    cli_runs=10,
)


@dataclass(frozen=True)
class BenchRequest:
    """What to measure and where: the sections, the real Toxiproxy, the change being measured."""

    quick: bool
    out: Path
    sections: tuple[str, ...] = SECTIONS
    toxiproxy_server: str | None = None  # a real toxiproxy-server beside the embedded one
    change: str | None = None  # name of the change this run measures the "after" of
    before: Path | None = None  # bench.json of the "before" (default: the previous OUT/bench.json)


def parse_sections(text: str | None) -> tuple[str, ...]:
    """`peer,restore` → the sections in run order; every name must be known (exit 2)."""
    if not text:
        return SECTIONS
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or not names:
        raise DefinitionError(
            f"--only: unknown section {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(SECTIONS)}"
        )
    return tuple(name for name in SECTIONS if name in names)


def source_commit() -> str | None:
    """The git commit of the source tree the runner is imported from (`+dirty` with changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "runner"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def _host() -> Json:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        # Bytecode never written: every fresh process compiles what it imports from source.
        "dont_write_bytecode": bool(sys.flags.dont_write_bytecode),
    }


def _read_bench(path: Path) -> Json | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _earlier_changes(previous: Json | None) -> list[Json]:
    changes = (previous or {}).get("changes")
    return list(changes) if isinstance(changes, list) else []


def run_bench(request: BenchRequest, progress: Callable[[str], None]) -> Json:
    """Run the sections asked for; return the bench.json document (also written to OUT/bench.json).

    The `changes` of the previous OUT/bench.json are kept; with `change`, one entry per goal
    measured both here and in `before` is added (before/after median, min, max, load, commits).
    """
    plan = QUICK_PLAN if request.quick else FULL_PLAN
    out = request.out
    previous = _read_bench(out / "bench.json")
    before_path = request.before or out / "bench.json"
    before = _read_bench(before_path) if request.change else None
    if request.change and before is None:
        raise DefinitionError(f"--before: {before_path}: no readable bench.json to compare with")
    work = out / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    doc: Json = {
        "schema": SCHEMA,
        "tool_version": __version__,
        "commit": source_commit(),
        "quick": request.quick,
        "sections": list(request.sections),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": _host(),
        "plan": {k: v for k, v in asdict(plan).items() if k != "proxy"}
        | {"proxy": asdict(plan.proxy)},
        "changes": _earlier_changes(previous),
    }

    def save(name: str, section: Json) -> None:
        doc[name] = section
        doc.update(headline(doc))
        doc["goals"] = goals_json(doc)
        doc["duration_s"] = round(time.monotonic() - started, 1)
        write_bench_json(doc, out)

    for name in request.sections:
        progress(f"{name} … ({snapshot().loadavg_1m:.2f} load average)")
        if name == "cli":
            save("cli", cli_section(*cli_start(plan.cli_runs)))
        elif name == "proxy":
            save(
                "proxy",
                proxy_section(proxy_figures(plan.proxy, request.toxiproxy_server, progress)),
            )
        elif name == "suite":
            runs = run_suite(work / "suite", plan.suite_repetitions, plan.suite_drills, progress)
            save("suite", suite_section(runs, plan.suite_drills))
        elif name == "mutants":
            run_mutants(
                work / "mutants",
                plan.mutants_repetitions,
                plan.mutant_drills,
                plan.mutant_defects,
                progress,
                lambda timed: save(
                    "mutants", mutants_section(timed, plan.mutant_drills, plan.mutant_defects)
                ),
            )
        else:
            _service_section(name, plan, work, save, progress)
    doc["host"]["load_average_at_end"] = list(os.getloadavg())
    doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if request.change and before is not None:
        added = changes_between(
            request.change, before, doc, before.get("commit"), doc.get("commit")
        )
        doc["changes"] = [*doc["changes"], *(c.as_json() for c in added)]
    doc["duration_s"] = round(time.monotonic() - started, 1)
    write_bench_json(doc, out)
    return doc


def _service_section(
    name: str,
    plan: BenchPlan,
    work: Path,
    save: Callable[[str, Json], None],
    progress: Callable[[str], None],
) -> None:
    """A section against the shared services (each brings them up on its own)."""
    with shared_services(work / f".state-{name}") as services:
        progress(f"shared services up: {services.endpoints.consumer_url}")
        if name == "peer":
            peers = run_peers(
                services, work / "peer", plan.peer_rounds, plan.own_environment_runs, progress
            )
            save("peer", peer_section(peers))
        elif name == "restore":
            trials = plan.restore_rounds * plan.restore_round_trials
            by_delay: dict[float, Sequence[RestoreTrial]] = {
                RESTORE_DELAY_S: restore_trials(services, trials, RESTORE_DELAY_S, progress),
                SHORT_RESTORE_S: restore_trials(
                    services, plan.short_restore_trials, SHORT_RESTORE_S, progress
                ),
            }
            save("restore", restore_section(by_delay, plan.restore_round_trials))
        elif name == "probe":
            costs: list[ProbeCost] = []
            for _ in range(plan.probe_repetitions):
                for rate in RATES_HZ:
                    cost = measure_probe_cost(services, rate)
                    costs.append(cost)
                    progress(
                        f"probe {rate:g}/s: {cost.samples_per_s:.1f} samples/s, "
                        f"runner CPU {cost.runner_cpu_s:.2f} s"
                    )
            save("probe", probe_section(costs))
