"""Peer run: the latency-above-timeout drill as mkdrill runs it and as a Chaos Toolkit experiment.

Both tools get the same already-running reference services (one Toxiproxy proxy in front of
MemoryKernel, the reference consumer behind it) and start as a fresh process per run:

- mkdrill: `python -m runner.bench.attached` (the real engine, plan, probe, restore watch and
  report writers; no environment start, no ledger, no lock);
- Chaos Toolkit: `chaos run experiment.json` with chaostoolkit-toxiproxy adding and removing the
  toxic, Chaos Toolkit's own http probe of the Draft endpoint as steady-state hypothesis, and a
  pause of the same window.

A third column, `mkdrill run DRILL` with its own environment, shows what a user's wall time is.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.bench.load import LoadSpan, with_load
from runner.bench.services import SharedServices, console_script
from runner.bench.timing import read_report, timed_run
from runner.errors import DefinitionError, EnvironmentProblem
from runner.faults.toxiproxy import ToxiproxyControl
from runner.loader import default_drills_dir, load_drill_file
from runner.plan import load_consumer_pin
from runner.probes.draft import TICKET
from runner.spec import LatencyFault, number, resolve_timeouts

log = logging.getLogger(__name__)

DRILL = "latency-above-timeout"
CTK_TOXIC = "ctk_latency_above_timeout"
DRAFT_TIMEOUT_S = 3

MKDRILL_ATTACHED_INCLUDES = (
    "interpreter start and imports, plan (drill files, pin and manifest hash), steady state "
    "(5 enriched Drafts in a row at 25/s), inject, the window, restore with milestone watch, verify "
    "(5 enriched Drafts), probe drain, report.json/junit.xml/summary.md/report.html, exit"
)
MKDRILL_OWN_INCLUDES = (
    "all of the attached run plus run lock, ledger, starting and stopping Toxiproxy, MemoryKernel "
    "and the consumer as processes, and seeding MemoryKernel"
)
CTK_INCLUDES = (
    "interpreter start and imports, experiment validation, steady-state hypothesis before "
    "(1 Draft), add toxic, 1 background Draft probe, pause, remove toxic, hypothesis after "
    "(1 Draft), rollback (remove toxic again), journal.json, exit"
)
MKDRILL_ASSERTS = (
    "every Draft answered, fallback reason per Draft, Draft latency bound, steady state "
    "enriched before and after (5 in a row each), time to restore within budget, with milestones"
)
CTK_ASSERTS = (
    "one Draft enriched before and one after (hypothesis tolerance); Drafts during the fault "
    "are recorded but a method probe has no tolerance, so nothing during the fault is asserted"
)


@dataclass(frozen=True)
class LatencyDrill:
    """The numbers both tools are given: the drill file's fault and window."""

    name: str
    latency_ms: int
    window_s: float
    consumer_timeout_ms: int


def latency_drill(name: str = DRILL, drills_dir: Path | None = None) -> LatencyDrill:
    """Read the drill file so the experiment uses the very same latency and window."""
    loaded = load_drill_file((drills_dir or default_drills_dir()) / f"{name}.yaml")
    # The consumer runs as shipped (its pin's timeout), so the drill resolves for that timeout.
    timeout_ms = loaded.drill.consumer.timeout_ms or load_consumer_pin(None).default_timeout_ms
    drill = resolve_timeouts(loaded.drill, timeout_ms)
    fault = drill.fault
    if not isinstance(fault, LatencyFault):
        raise DefinitionError(f"{loaded.path}: fault: the peer run needs a latency fault")
    return LatencyDrill(
        name=drill.name,
        latency_ms=int(number(fault.latency_ms)),
        window_s=number(drill.window_s),
        consumer_timeout_ms=timeout_ms,
    )


@dataclass(frozen=True)
class PeerRun:
    """One run of one tool: wall time, fault window and what it observed."""

    tool: str
    wall_s: float
    window_s: float
    exit_code: int
    passed: bool
    drafts_in_window: int
    drafts_total: int
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    load: LoadSpan | None = None  # the machine while this run ran

    @property
    def overhead_s(self) -> float:
        """Time outside the fault window."""
        return self.wall_s - self.window_s


# -- Chaos Toolkit -------------------------------------------------------------------------------


def _draft_provider(consumer_url: str) -> dict[str, Any]:
    # chaoslib's http provider sends JSON only when the header is spelled exactly Content-Type.
    return {
        "type": "http",
        "url": f"{consumer_url}/v1/draft",
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "arguments": {"ticket": TICKET},
        "timeout": DRAFT_TIMEOUT_S,
    }


def _toxic_action(name: str, func: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "action",
        "name": name,
        "provider": {
            "type": "python",
            "module": "chaostoxi.toxic.actions",
            "func": func,
            "arguments": arguments,
        },
    }


def ctk_experiment(
    drill: LatencyDrill, consumer_url: str, toxiproxy_url: str, proxy: str
) -> dict[str, Any]:
    """The drill as a Chaos Toolkit experiment (chaostoolkit-toxiproxy for the toxic)."""
    remove = {"for_proxy": proxy, "toxic_name": CTK_TOXIC}
    remove_after_window = _toxic_action("remove-latency-toxic", "delete_toxic", remove)
    remove_after_window["pauses"] = {"before": drill.window_s}
    return {
        "version": "1.0.0",
        "title": drill.name,
        "description": (
            f"Every MemoryKernel answer {drill.latency_ms} ms late for {drill.window_s:g} s; "
            "the Draft flow falls back and recovers."
        ),
        "tags": ["mkdrill-bench"],
        "configuration": {"toxiproxy_url": toxiproxy_url},
        "steady-state-hypothesis": {
            "title": "Drafts are enriched by MemoryKernel",
            "probes": [
                {
                    "type": "probe",
                    "name": "draft-enriched",
                    "tolerance": {
                        "type": "jsonpath",
                        "path": "$.enrichment.applied",
                        "expect": True,
                        "target": "body",
                    },
                    "provider": _draft_provider(consumer_url),
                }
            ],
        },
        "method": [
            _toxic_action(
                "add-latency-toxic",
                "create_latency_toxic",
                {"for_proxy": proxy, "toxic_name": CTK_TOXIC, "latency": drill.latency_ms},
            ),
            {
                "type": "probe",
                "name": "draft-during-fault",
                "background": True,
                "provider": _draft_provider(consumer_url),
            },
            remove_after_window,
        ],
        "rollbacks": [_toxic_action("rollback-remove-latency-toxic", "delete_toxic", remove)],
    }


def _iso_s(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _fallback_reason(output: object) -> str | None:
    body = output.get("body") if isinstance(output, dict) else None
    enrichment = body.get("enrichment") if isinstance(body, dict) else None
    if not isinstance(enrichment, dict) or enrichment.get("applied") is True:
        return None
    reason = enrichment.get("fallback_reason")
    return reason if isinstance(reason, str) else None


def observe_ctk_journal(journal: dict[str, Any]) -> dict[str, Any]:
    """Window, Draft probes and fallback reasons from a Chaos Toolkit journal."""
    runs = {r["activity"]["name"]: r for r in journal.get("run", [])}
    add, remove = runs.get("add-latency-toxic"), runs.get("remove-latency-toxic")
    # chaoslib stamps an activity's start after its "before" pause: add start → remove start is
    # the time the toxic was on, as mkdrill's fault window is inject start → recover start.
    window = (
        _iso_s(remove["start"]) - _iso_s(add["start"])
        if add is not None and remove is not None
        else 0.0
    )
    during = [r for name, r in runs.items() if name == "draft-during-fault"]
    reasons = Counter(
        reason for r in during if (reason := _fallback_reason(r.get("output"))) is not None
    )
    hypothesis = journal.get("steady_states") or {}
    steady_checks = sum(
        len((hypothesis.get(when) or {}).get("probes", [])) for when in ("before", "after")
    )
    return {
        "window_s": window,
        "drafts_in_window": len(during),
        "drafts_total": len(during) + steady_checks,
        "fallback_reasons": dict(reasons),
        "passed": journal.get("status") == "completed" and not journal.get("deviated", True),
        "phases_s": {
            r["activity"]["name"]: round(float(r["duration"]), 4) for r in journal.get("run", [])
        },
    }


def run_ctk(services: SharedServices, drill: LatencyDrill, workdir: Path, index: int) -> PeerRun:
    """`chaos run` the experiment once; wall time from process start to exit."""
    folder = workdir / f"ctk-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    endpoints = services.endpoints
    experiment = folder / "experiment.json"
    experiment.write_text(
        json.dumps(
            ctk_experiment(
                drill, endpoints.consumer_url, endpoints.toxiproxy_url, endpoints.proxy_name
            ),
            indent=2,
        )
    )
    journal_path = folder / "journal.json"
    argv = [
        console_script("chaos"),
        "--no-version-check",  # it would ask PyPI for a newer release on every run
        "--no-log-file",
        "--settings",
        str(folder / "settings.yaml"),
        "run",
        "--journal-path",
        str(journal_path),
        str(experiment),
    ]
    (wall, code), load = with_load(lambda: timed_run(argv, folder, folder / "chaos.out"))
    try:
        journal = json.loads(journal_path.read_text())
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"chaos run wrote no readable journal ({exc}); see {folder / 'chaos.out'}"
        ) from exc
    seen = observe_ctk_journal(journal)
    return PeerRun(tool="chaostoolkit", wall_s=wall, exit_code=code, load=load, **seen)


# -- mkdrill -------------------------------------------------------------------------------------


def observe_mkdrill_report(report: dict[str, Any]) -> dict[str, Any]:
    """Window, Draft samples and fallback reasons of the (single) drill in a report.json."""
    drills = report.get("drills") or []
    if not drills:
        raise EnvironmentProblem("report.json has no drill result")
    drill = drills[0]
    window = drill.get("fault_window") or {}
    samples = drill.get("samples") or []
    during = [s for s in samples if s.get("phase") == "observe"]
    reasons = Counter(
        str(s["fallback_reason"])
        for s in during
        if s.get("fallback_reason") and not s.get("applied")
    )
    phases = {
        p["phase"]: round(float(p["end_s"]) - float(p["start_s"]), 4)
        for p in drill.get("phases", [])
    }
    started = report.get("started_at")
    if started and drill.get("started_at"):
        phases["before_first_drill"] = round(
            _iso_s(drill["started_at"].replace("Z", "+00:00"))
            - _iso_s(started.replace("Z", "+00:00")),
            4,
        )
    return {
        "window_s": float(window.get("end_s", 0.0)) - float(window.get("start_s", 0.0)),
        "drafts_in_window": len(during),
        "drafts_total": len(samples),
        "fallback_reasons": dict(reasons),
        "passed": drill.get("verdict") == "passed",
        "phases_s": phases,
    }


def run_mkdrill_attached(
    services: SharedServices, drill: LatencyDrill, workdir: Path, index: int
) -> PeerRun:
    """The engine in a fresh process against the shared services."""
    folder = workdir / f"mkdrill-attached-{index}"
    argv = [
        sys.executable,
        "-m",
        "runner.bench.attached",
        "--endpoints",
        services.endpoints_json(),
        "--release",
        services.consumer.pin.release_tag,
        "--out",
        str(folder / "report"),
        drill.name,
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (wall, code), load = with_load(lambda: timed_run(argv, folder, folder / "mkdrill.out"))
    seen = observe_mkdrill_report(read_report(folder / "report"))
    return PeerRun(tool="mkdrill (attached)", wall_s=wall, exit_code=code, load=load, **seen)


def run_mkdrill_own(drill: LatencyDrill, workdir: Path, index: int) -> PeerRun:
    """`mkdrill run DRILL` as users run it: it brings its own environment up and down."""
    folder = workdir / "own" / f"run-{index}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    argv = [console_script("mkdrill"), "run", drill.name, "--out", str(folder)]
    (wall, code), load = with_load(
        lambda: timed_run(argv, folder.parent, folder.parent / f"run-{index}.out")
    )
    seen = observe_mkdrill_report(read_report(folder))
    return PeerRun(
        tool="mkdrill run (own environment)", wall_s=wall, exit_code=code, load=load, **seen
    )


# -- the alternation -----------------------------------------------------------------------------


def require_chaos_toolkit() -> None:
    """The peer's pieces, checked before anything starts: a failed `chaos run` says little."""
    console_script("chaos")
    for module, package in (("chaostoxi", "chaostoolkit-toxiproxy"), ("jsonpath2", "jsonpath2")):
        if importlib.util.find_spec(module) is None:
            raise EnvironmentProblem(
                f"{package} is not installed (the Chaos Toolkit experiment needs it); "
                "pip install -e '.[dev]'"
            )


@dataclass
class PeerRuns:
    """Every run of the peer benchmark, in the order they ran."""

    drill: LatencyDrill
    mkdrill: list[PeerRun] = field(default_factory=list)
    ctk: list[PeerRun] = field(default_factory=list)
    mkdrill_own: list[PeerRun] = field(default_factory=list)


def run_peers(
    services: SharedServices,
    workdir: Path,
    rounds: int,
    own_environment: bool = True,
    progress: Callable[[str], None] = lambda _line: None,
) -> PeerRuns:
    """A B A B …: mkdrill (attached) then Chaos Toolkit, `rounds` times; then optionally `mkdrill run`."""
    require_chaos_toolkit()
    drill = latency_drill()
    runs = PeerRuns(drill)
    toxiproxy = ToxiproxyControl(services.endpoints.toxiproxy_url)
    for index in range(rounds):
        for runner, into in (
            (run_mkdrill_attached, runs.mkdrill),
            (run_ctk, runs.ctk),
        ):
            run = runner(services, drill, workdir, index)
            into.append(run)
            progress(
                f"peer {index + 1}/{rounds} {run.tool}: {run.wall_s:.2f} s, outside the window "
                f"{run.overhead_s:.2f} s ({'pass' if run.passed else 'FAIL'}, exit "
                f"{run.exit_code}; {run.load.describe() if run.load else 'load unknown'})"
            )
            # Whatever a failed run left behind must not leak into the other tool's run.
            toxiproxy.remove_all(services.endpoints.proxy_name)
        if own_environment:
            run = run_mkdrill_own(drill, workdir, index)
            runs.mkdrill_own.append(run)
            progress(f"peer {index + 1}/{rounds} {run.tool}: {run.wall_s:.2f} s")
    return runs
