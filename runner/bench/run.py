"""`mkdrill bench`: every benchmark in order, bench.json rewritten (atomically) after each section."""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner import __version__
from runner.bench.cli_start import cli_start
from runner.bench.peer import run_peers
from runner.bench.probe_cost import RATES_HZ, ProbeCost, measure_probe_cost
from runner.bench.proxy_rounds import FULL, QUICK, ProxyOptions, proxy_figures
from runner.bench.restore_accuracy import RESTORE_DELAY_S, RestoreTrial, restore_trials
from runner.bench.results import (
    SCHEMA,
    Json,
    cli_section,
    headline,
    peer_section,
    probe_section,
    proxy_section,
    restore_section,
    suite_section,
    write_bench_json,
)
from runner.bench.services import shared_services
from runner.bench.suite import QUICK_DRILLS, run_suite

# A restore far shorter than the watch's own start-up shows its fixed cost, which 2 s hides.
SHORT_RESTORE_S = 0.1


@dataclass(frozen=True)
class BenchPlan:
    """How many repetitions each section makes."""

    quick: bool
    peer_rounds: int
    own_environment_runs: bool
    suite_repetitions: int
    suite_drills: tuple[str, ...]
    restore_trials: int
    short_restore_trials: int
    probe_repetitions: int
    proxy: ProxyOptions
    cli_runs: int


QUICK_PLAN = BenchPlan(
    quick=True,
    peer_rounds=3,
    own_environment_runs=True,
    suite_repetitions=2,
    suite_drills=QUICK_DRILLS,
    restore_trials=10,
    short_restore_trials=5,
    probe_repetitions=2,
    proxy=QUICK,
    cli_runs=10,
)
FULL_PLAN = BenchPlan(
    quick=False,
    peer_rounds=5,
    own_environment_runs=True,
    suite_repetitions=3,
    suite_drills=(),
    restore_trials=20,
    short_restore_trials=10,
    probe_repetitions=3,
    proxy=FULL,
    cli_runs=10,
)


def _host() -> Json:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
    }


def run_bench(quick: bool, out: Path, progress: Callable[[str], None]) -> Json:
    """Run every section; return the bench.json document (also written to `out/bench.json`)."""
    plan = QUICK_PLAN if quick else FULL_PLAN
    work = out / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    doc: Json = {
        "schema": SCHEMA,
        "tool_version": __version__,
        "quick": quick,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": _host(),
        "plan": {k: v for k, v in asdict(plan).items() if k != "proxy"}
        | {"proxy": asdict(plan.proxy)},
    }

    def save(name: str, section: Json) -> None:
        doc[name] = section
        doc.update(headline(doc))
        doc["duration_s"] = round(time.monotonic() - started, 1)
        write_bench_json(doc, out)

    progress("cli start …")
    script, commands = cli_start(plan.cli_runs)
    save("cli", cli_section(script, commands))

    progress("proxy …")
    save("proxy", proxy_section(*proxy_figures(plan.proxy, progress)))

    with shared_services(work / ".state") as services:
        progress(f"shared services up: {services.endpoints.consumer_url}")
        peers = run_peers(
            services, work / "peer", plan.peer_rounds, plan.own_environment_runs, progress
        )
        save("peer", peer_section(peers))

        by_delay: dict[float, list[RestoreTrial]] = {
            RESTORE_DELAY_S: restore_trials(
                services, plan.restore_trials, RESTORE_DELAY_S, progress
            ),
            SHORT_RESTORE_S: restore_trials(
                services, plan.short_restore_trials, SHORT_RESTORE_S, progress
            ),
        }
        save("restore", restore_section(by_delay))

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

    progress("suite …")
    suite_runs = run_suite(work / "suite", plan.suite_repetitions, plan.suite_drills, progress)
    doc["host"]["load_average_at_end"] = list(os.getloadavg())
    doc["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    save("suite", suite_section(suite_runs, plan.suite_drills))
    return doc
