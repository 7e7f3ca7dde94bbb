"""bench.json: each section's figures as JSON, the headline ratios, the table, the atomic write."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.bench.load import LoadSpan, overall
from runner.bench.mutants import MODES, MutantsTiming
from runner.bench.peer import (
    CTK_ASSERTS,
    CTK_INCLUDES,
    MKDRILL_ASSERTS,
    MKDRILL_ATTACHED_INCLUDES,
    MKDRILL_OWN_INCLUDES,
    PeerRun,
    PeerRuns,
)
from runner.bench.probe_cost import ProbeCost
from runner.bench.proxy_rounds import ProxyResults
from runner.bench.restore_accuracy import RestoreTrial
from runner.bench.stats import Figure, distribution_ms, figure, paired_ratios, percentile
from runner.bench.suite import SuiteRun

SCHEMA = "mkdrill-bench/2"
HEADLINE_KEYS = (
    "ctk_overhead_ratio",
    "suite_overhead_ratio",
    "restore_error_ms_p95",
    "proxy_p50_added_ms",
    "proxy_new_connection_p50_added_ms",
    "cli_help_ms",
    "mutants_quick_s",
    "mutants_full_s",
)
RESTORE_ROUND_TRIALS = 20  # a p95 per round of this many trials, so the p95 has a min and max
RESTORE_TARGET_MS = 50.0
CLI_HELP_TARGET_MS = 300.0

Json = dict[str, Any]


def load_json(spans: Sequence[LoadSpan | None]) -> Json | None:
    """Every span taken together (None when one is missing), for a figure's `load`."""
    known = [s for s in spans if s is not None]
    if not known or len(known) != len(spans):
        return None
    return overall(known).as_json()


def _tool(runs: Sequence[PeerRun], includes: str, asserts: str) -> Json:
    reasons: Counter[str] = Counter()
    for run in runs:
        reasons.update(run.fallback_reasons)
    phases: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in run.phases_s.items():
            phases.setdefault(name, []).append(seconds)
    return {
        "tool": runs[0].tool,
        "runs": len(runs),
        "passed": sum(1 for r in runs if r.passed),
        "exit_codes": [r.exit_code for r in runs],
        "wall_s": figure([r.wall_s for r in runs], "s").as_json(),
        "window_s": figure([r.window_s for r in runs], "s").as_json(),
        "overhead_s": figure([r.overhead_s for r in runs], "s").as_json(),
        "drafts_in_window": figure([float(r.drafts_in_window) for r in runs], "Drafts").as_json(),
        "drafts_total": figure([float(r.drafts_total) for r in runs], "Drafts").as_json(),
        "fallback_reasons_seen": dict(sorted(reasons.items())),
        "phases_s": {name: figure(v, "s").as_json() for name, v in phases.items()},
        "load": load_json([r.load for r in runs]),
        "wall_includes": includes,
        "asserts": asserts,
    }


def peer_section(runs: PeerRuns) -> Json:
    """Section 1: mkdrill vs Chaos Toolkit on the same drill and services, paired runs."""
    overhead = paired_ratios([r.overhead_s for r in runs.mkdrill], [r.overhead_s for r in runs.ctk])
    wall = paired_ratios([r.wall_s for r in runs.mkdrill], [r.wall_s for r in runs.ctk])
    section: Json = {
        "drill": runs.drill.name,
        "latency_ms": runs.drill.latency_ms,
        "window_s": runs.drill.window_s,
        "order": "alternated per round: mkdrill (attached), chaos run; then mkdrill run (own environment)",
        "mkdrill_mode": "engine in a fresh process (python -m runner.bench.attached) against the shared services",
        "ctk_mode": "chaos run experiment.json (fresh process) against the shared services; chaostoolkit-toxiproxy unchanged",
        "mkdrill": _tool(runs.mkdrill, MKDRILL_ATTACHED_INCLUDES, MKDRILL_ASSERTS),
        "chaostoolkit": _tool(runs.ctk, CTK_INCLUDES, CTK_ASSERTS),
        "overhead_ratio": figure(overhead, "×").as_json(),
        "wall_ratio": figure(wall, "×").as_json(),
        "loads": [
            {
                "mkdrill": m.load.as_json() if m.load else None,
                "chaostoolkit": c.load.as_json() if c.load else None,
            }
            for m, c in zip(runs.mkdrill, runs.ctk, strict=True)
        ],
    }
    if runs.mkdrill_own:
        section["mkdrill_own_environment"] = _tool(
            runs.mkdrill_own, MKDRILL_OWN_INCLUDES, MKDRILL_ASSERTS
        )
    return section


def suite_section(runs: Sequence[SuiteRun], drills: Sequence[str]) -> Json:
    """Section 2: suite wall ÷ (fault windows + restores), with where the rest went."""
    phases = {
        name: figure([r.phases_s.get(name, 0.0) for r in runs], "s").as_json()
        for name in runs[0].phases_s
    }
    return {
        "drills": list(drills) or "nightly suite",
        "drill_count": runs[0].drills,
        "passed": [r.passed for r in runs],
        "ratio": figure([r.ratio for r in runs], "×").as_json(),
        "wall_s": figure([r.wall_s for r in runs], "s").as_json(),
        "fault_windows_s": figure([r.windows_s for r in runs], "s").as_json(),
        "restores_s": figure([r.restores_s for r in runs], "s").as_json(),
        "overhead_s": figure([r.overhead_s for r in runs], "s").as_json(),
        "overhead_breakdown_s": {
            "process_start_plan_and_exit": figure([r.outside_run_s for r in runs], "s").as_json(),
            "environment_up": figure([r.environment_up_s for r in runs], "s").as_json(),
            "between_drills_reports": figure([r.between_drills_s for r in runs], "s").as_json(),
            "environment_down_final_reports": figure(
                [r.after_last_drill_s for r in runs], "s"
            ).as_json(),
        },
        "phases_s": phases,
        "loads": [r.load.as_json() if r.load else None for r in runs],
    }


def _errors(trials: Sequence[RestoreTrial]) -> list[float]:
    return [t.error_s for t in trials if t.error_s is not None]


def _p95_by_round(trials: Sequence[RestoreTrial], per_round: int) -> Json | None:
    rounds = [trials[i : i + per_round] for i in range(0, len(trials), per_round)]
    p95s = [
        percentile([e * 1000 for e in errors], 0.95)
        for chunk in rounds
        if (errors := _errors(chunk))
    ]
    return figure(p95s, "ms").as_json() if p95s else None


def restore_section(
    by_delay: Mapping[float, Sequence[RestoreTrial]], per_round: int = RESTORE_ROUND_TRIALS
) -> Json:
    """Section 3: measured time-to-restore - true restore duration, per scripted delay."""
    delays: Json = {}
    for delay, trials in by_delay.items():
        errors = _errors(trials)
        resolutions = [t.resolution_s * 1000 for t in trials if t.resolution_s is not None]
        milestones: dict[str, list[float]] = {}
        for trial in trials:
            for name, at in trial.milestones.items():
                if at is not None:
                    milestones.setdefault(name, []).append(at)
        delays[f"{delay:g}"] = {
            "delay_s": delay,
            "trials": len(trials),
            "restored": len(errors),
            "error_ms": figure([e * 1000 for e in errors], "ms").as_json() if errors else None,
            "error_distribution": distribution_ms(errors) if errors else None,
            "p95_ms_by_round": _p95_by_round(trials, per_round),
            "round_trials": per_round,
            "load": load_json([t.load for t in trials]),
            "within_target": sum(1 for e in errors if abs(e) * 1000 <= RESTORE_TARGET_MS),
            "timer_late_ms": figure([t.flip_late_s * 1000 for t in trials], "ms").as_json(),
            "resolution_ms": figure(resolutions, "ms").as_json() if resolutions else None,
            "milestones_s": {name: figure(v, "s").as_json() for name, v in milestones.items()},
        }
    return {"target_abs_error_ms": RESTORE_TARGET_MS, "by_delay_s": delays}


def probe_section(costs: Sequence[ProbeCost]) -> Json:
    """Section 4: samples/s and CPU at each rate."""
    rates: Json = {}
    for rate in sorted({c.rate_hz for c in costs}):
        runs = [c for c in costs if c.rate_hz == rate]
        consumer = [c.consumer_cpu_s for c in runs if c.consumer_cpu_s is not None]
        rates[f"{rate:g}"] = {
            "rate_hz": rate,
            "interval_s": runs[0].interval_s,
            "samples_per_s": figure([c.samples_per_s for c in runs], "1/s").as_json(),
            "enriched": [c.enriched for c in runs],
            "runner_cpu_s": figure([c.runner_cpu_s for c in runs], "s").as_json(),
            "runner_cpu_fraction": figure(
                [c.runner_cpu_s / c.interval_s for c in runs], "CPU"
            ).as_json(),
            "runner_cpu_per_sample_ms": figure(
                [c.runner_cpu_per_sample_ms for c in runs], "ms"
            ).as_json(),
            "consumer_cpu_s": figure(consumer, "s").as_json() if consumer else None,
            "load": load_json([c.load for c in runs]),
        }
    return {"by_rate_hz": rates}


def proxy_section(results: ProxyResults) -> Json:
    """Section 5: what Toxiproxy adds, per server kind, rounds alternated between the servers."""
    return {
        "servers": {
            kind: {name: f.as_json() for name, f in figures.items()}
            for kind, figures in results.figures.items()
        },
        "order": "rounds alternated: embedded then real, then real then embedded, …",
        "loads": {
            kind: [span.as_json() for span in spans] for kind, spans in results.loads.items()
        },
        "real_server_skipped": results.real_skipped,
    }


def mutants_section(
    runs: Sequence[MutantsTiming], drills: Sequence[str], mutants: Sequence[str]
) -> Json:
    """Section 7: `mkdrill mutants` wall time in quick mode and in full mode, the same matrix."""
    modes: Json = {}
    for mode in MODES:
        timed = [r for r in runs if r.mode == mode]
        if not timed:
            continue
        modes[mode] = {
            "runs": len(timed),
            "exit_codes": [r.exit_code for r in timed],
            "passed": [r.passed for r in timed],
            "wall_s": figure([r.wall_s for r in timed], "s").as_json(),
            "phases_s": {
                name: figure([r.phases_s.get(name, 0.0) for r in timed], "s").as_json()
                for name in timed[0].phases_s
            },
            "drill_runs": figure([float(r.drill_runs) for r in timed], "runs").as_json(),
            "mutant_runs": figure([float(r.mutant_runs) for r in timed], "runs").as_json(),
            "survivors": sorted({name for r in timed for name in r.survivors}),
            "no_teeth": sorted({name for r in timed for name in r.no_teeth}),
            "red_on_healthy": sorted({name for r in timed for name in r.red_on_healthy}),
            "load": load_json([r.load for r in timed]),
        }
    quick = [r.wall_s for r in runs if r.mode == "quick"]
    full = [r.wall_s for r in runs if r.mode == "full"]
    first = runs[0]
    return {
        "drills": list(drills) or "nightly suite",
        "mutants": list(mutants) or "every mutant",
        "drill_count": first.drills,
        "mutant_count": first.mutants,
        "order": "per repetition: quick mode, then full mode; each its own process and environment",
        "modes": modes,
        "full_over_quick": figure(paired_ratios(full, quick), "×").as_json()
        if quick and len(quick) == len(full)
        else None,
    }


def cli_section(script: str, figures: Mapping[str, tuple[Figure, LoadSpan | None]]) -> Json:
    """Section 6: CLI start, in milliseconds."""
    return {
        "script": script,
        "target_help_ms": CLI_HELP_TARGET_MS,
        "commands": {
            f"mkdrill {name}": figure([v * 1000 for v in f.values], "ms").as_json()
            | {"load": load.as_json() if load else None}
            for name, (f, load) in figures.items()
        },
    }


def headline(doc: Json) -> Json:
    """The top-level figures (medians) every reader looks for first."""
    peer, suite, restore = doc.get("peer"), doc.get("suite"), doc.get("restore")
    proxy, cli = doc.get("proxy"), doc.get("cli")
    modes = (doc.get("mutants") or {}).get("modes") or {}
    two = (restore or {}).get("by_delay_s", {}).get("2") or {}
    embedded = ((proxy or {}).get("servers") or {}).get("embedded") or {}
    return {
        "ctk_overhead_ratio": peer["overhead_ratio"]["median"] if peer else None,
        "suite_overhead_ratio": suite["ratio"]["median"] if suite else None,
        "restore_error_ms_p95": (two.get("error_distribution") or {}).get("p95_ms"),
        "proxy_p50_added_ms": (embedded.get("added_p50_ms") or {}).get("median"),
        "proxy_new_connection_p50_added_ms": (
            embedded.get("new_connection_added_p50_ms") or {}
        ).get("median"),
        "cli_help_ms": ((cli or {}).get("commands", {}).get("mkdrill --help") or {}).get("median"),
        "mutants_quick_s": ((modes.get("quick") or {}).get("wall_s") or {}).get("median"),
        "mutants_full_s": ((modes.get("full") or {}).get("wall_s") or {}).get("median"),
    }


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return "-" if value is None else str(value)


def _row(name: str, fig: Json | None, note: str = "") -> list[str]:
    if not fig:
        return [name, "-", "-", "-", "-", note]
    unit = fig.get("unit", "")
    return [
        f"{name} [{unit}]" if unit else name,
        _fmt(fig["median"]),
        _fmt(fig["min"]),
        _fmt(fig["max"]),
        str(fig["n"]),
        note,
    ]


def table_rows(doc: Json) -> list[list[str]]:
    """One row per figure: name, median, min, max, n, note."""
    rows: list[list[str]] = []
    peer = doc.get("peer")
    if peer:
        for key in ("mkdrill", "chaostoolkit", "mkdrill_own_environment"):
            tool = peer.get(key)
            if not tool:
                continue
            label = f"peer {key}"
            reasons = ",".join(f"{k}×{v}" for k, v in tool["fallback_reasons_seen"].items())
            rows.append(
                _row(f"{label} wall", tool["wall_s"], f"{tool['passed']}/{tool['runs']} passed")
            )
            rows.append(_row(f"{label} fault window", tool["window_s"]))
            rows.append(_row(f"{label} overhead (wall - window)", tool["overhead_s"]))
            rows.append(
                _row(
                    f"{label} Drafts in window",
                    tool["drafts_in_window"],
                    reasons or "no fallback seen",
                )
            )
        rows.append(_row("peer overhead ratio mkdrill/CTK", peer["overhead_ratio"], "paired runs"))
        rows.append(_row("peer wall ratio mkdrill/CTK", peer["wall_ratio"], "paired runs"))
    suite = doc.get("suite")
    if suite:
        rows.append(_row("suite wall", suite["wall_s"], f"{suite['drill_count']} drills"))
        rows.append(_row("suite fault windows", suite["fault_windows_s"]))
        rows.append(_row("suite restores", suite["restores_s"]))
        rows.append(_row("suite ratio wall/(windows+restores)", suite["ratio"]))
        for name, fig in suite["overhead_breakdown_s"].items():
            rows.append(_row(f"suite {name.replace('_', ' ')}", fig))
        for name in ("prepare", "steady", "inject", "verify"):
            rows.append(_row(f"suite phase {name} (sum)", suite["phases_s"].get(name)))
    restore = doc.get("restore")
    if restore:
        for delay, entry in restore["by_delay_s"].items():
            dist = entry.get("error_distribution") or {}
            note = (
                f"p50 {_fmt(dist.get('p50_ms'))} p95 {_fmt(dist.get('p95_ms'))}; "
                f"{entry['within_target']}/{entry['trials']} within ±{RESTORE_TARGET_MS:g} ms"
            )
            rows.append(_row(f"restore error, true restore {delay} s", entry.get("error_ms"), note))
    probe = doc.get("probe")
    if probe:
        for rate, entry in probe["by_rate_hz"].items():
            rows.append(_row(f"probe {rate}/s samples/s", entry["samples_per_s"]))
            rows.append(
                _row(
                    f"probe {rate}/s runner CPU",
                    entry["runner_cpu_s"],
                    f"over {entry['interval_s']:g} s",
                )
            )
            rows.append(
                _row(f"probe {rate}/s runner CPU per Draft", entry["runner_cpu_per_sample_ms"])
            )
            rows.append(_row(f"probe {rate}/s consumer CPU", entry.get("consumer_cpu_s")))
    proxy = doc.get("proxy")
    if proxy:
        for kind, figures in proxy["servers"].items():
            for name in (
                "added_p50_ms",
                "added_p99_ms",
                "new_connection_added_p50_ms",
                "new_connection_added_p99_ms",
                "latency_200ms_median",
                "throughput_mib_s",
                "concurrent_errors",
            ):
                rows.append(_row(f"proxy {kind} {name}", figures.get(name)))
        if proxy.get("real_server_skipped"):
            rows.append(
                ["proxy toxiproxy-server", "-", "-", "-", "-", proxy["real_server_skipped"]]
            )
    mutants = doc.get("mutants")
    if mutants:
        size = f"{mutants['drill_count']} drills × {mutants['mutant_count']} mutants"
        for mode, entry in mutants["modes"].items():
            passed = sum(1 for p in entry["passed"] if p)
            note = f"{size}; {passed}/{entry['runs']} passed, exit {entry['exit_codes']}"
            rows.append(_row(f"mutants {mode} mode wall", entry["wall_s"], note))
            rows.append(_row(f"mutants {mode} mode drill runs", entry["drill_runs"]))
            for name in ("setup_s", "healthy_s", "mutants_s"):
                label = name.removesuffix("_s")
                rows.append(_row(f"mutants {mode} mode {label}", entry["phases_s"].get(name)))
        rows.append(_row("mutants full/quick wall", mutants.get("full_over_quick"), "paired"))
    cli = doc.get("cli")
    if cli:
        for name, fig in cli["commands"].items():
            note = f"target ≤ {CLI_HELP_TARGET_MS:g} ms" if name.endswith("--help") else ""
            rows.append(_row(name, fig, note))
    return rows


def finite(value: Any) -> Any:
    """`value` with every NaN/infinity replaced by None, so bench.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def write_bench_json(doc: Json, out_dir: Path) -> Path:
    """Write `out_dir/bench.json` atomically (temp file in the same folder, fsync, rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "bench.json"
    fd, temp = tempfile.mkstemp(prefix=".bench-", suffix=".json", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(finite(doc), handle, indent=2, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
