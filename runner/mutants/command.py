"""`mkdrill mutants`: plan, lock, one environment, the session, the matrix printed and written."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tabulate import tabulate

from runner import __version__
from runner.backends.base import Endpoints
from runner.backends.listen_address import ensure_free, parse_listen
from runner.clock import SystemClock
from runner.consumers.defects import DEFECTS, MUTANTS, ConsumerDefect
from runner.engine import Engine, RunPlan
from runner.errors import (
    EXIT_DRILL_FAILED,
    EXIT_PASSED,
    DefinitionError,
    DrillError,
    Interrupted,
)
from runner.mutants.matrix import (
    INCONCLUSIVE,
    Catch,
    Cell,
    DrillFacts,
    DrillStanding,
    Matrix,
    Mode,
)
from runner.mutants.order import DrillOrder, learned_catches
from runner.mutants.report import MutantsRecord, write_reports
from runner.mutants.session import MutantsSession
from runner.plan import RunRequest, new_run_id
from runner.progress import Progress
from runner.record import ConsumerInfo, DrillResult, Phase, RunRecord, Verdict
from runner.run_command import make_environment, plan_run
from runner.run_state import environment_lock
from runner.signals import interrupts_raise
from runner.text import shorten_at_word


@dataclass(frozen=True)
class MutantsRequest:
    """What `mkdrill mutants` was asked for, beyond what a run needs."""

    run: RunRequest
    mode: Mode
    defects: tuple[ConsumerDefect, ...] = MUTANTS
    learn_from: Path | None = None
    toxiproxy_url: str | None = None
    memorykernel_image: str | None = None
    toxiproxy_image: str | None = None


def refuse_own_consumer(probe_url: str | None, probe_command: str | None) -> None:
    """Mutants change the reference consumer's code: a consumer of yours cannot take them."""
    flag = "--probe-url" if probe_url else "--probe-command" if probe_command else None
    if flag is not None:
        raise DefinitionError(
            f"{flag}: mkdrill cannot mutate a consumer of yours (its own code decides what it "
            "does); `mkdrill mutants` runs the reference consumer with each defect"
        )


def chosen_defects(names: Sequence[str]) -> tuple[ConsumerDefect, ...]:
    """The mutants named by --mutant (default: the whole catalog), in catalog order."""
    if not names:
        return MUTANTS
    known = {d.value: d for d in MUTANTS}
    wanted = set()
    for name in names:
        if name.strip() == ConsumerDefect.NONE.value:
            raise DefinitionError(
                "--mutant: none is the healthy consumer, which always runs first; name a mutant "
                "(`mkdrill mutants --list`)"
            )
        if name.strip() not in known:
            raise DefinitionError(
                f"--mutant: unknown mutant {name!r}; use one of {', '.join(known)} "
                "(`mkdrill mutants --list`)"
            )
        wanted.add(known[name.strip()])
    return tuple(d for d in MUTANTS if d in wanted)


def list_catalog(stream: TextIO = sys.stdout) -> None:
    """`mkdrill mutants --list`: every defect, what it does and the bug class it stands for."""
    for info in DEFECTS.values():
        stream.write(f"{info.name}\n  does:  {info.does}\n  bug:   {info.bug_class}\n")
        stream.write(f"  rule:  {info.rule}\n")


class MutantsProgress:
    """The engine's listener during a mutants run: environment lines and, on a TTY, a live line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._progress = Progress(Path("."), stream, write_reports=False)
        self._current = ""
        self.first_drill_at: float | None = None

    def run_started(self, record: RunRecord) -> None:
        pass

    def environment_ready(self, endpoints: Endpoints, toxiproxy_kind: str) -> None:
        self._progress.environment_ready(endpoints, toxiproxy_kind)

    def consumer_measured(self, consumer: ConsumerInfo) -> None:
        self._progress.consumer_measured(consumer)

    def drill_started(self, name: str, index: int, total: int) -> None:
        if self.first_drill_at is None:
            self.first_drill_at = time.monotonic()
        self._current = name
        self.phase_changed(name, Phase.PREPARE)

    def phase_changed(self, drill: str, phase: Phase) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K  … {self._current} {phase.value}")
            self.stream.flush()

    def drill_finished(self, result: DrillResult, record: RunRecord) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")

    def run_finished(self, record: RunRecord) -> None:
        pass


def cell_line(cell: Cell, caught: bool) -> str:
    """One line per drill run: healthy PASS/FAIL, or caught/missed against a mutant."""
    if cell.defect == ConsumerDefect.NONE.value:
        mark = "PASS" if cell.verdict is Verdict.PASSED else cell.verdict.value.upper()
    else:
        mark = "caught" if caught else ("ERROR" if cell.verdict is Verdict.ERROR else "missed")
    line = f"  {mark:<6} {cell.drill} ({cell.duration_s:.1f}s)"
    if cell.red and (caught or cell.defect == ConsumerDefect.NONE.value):
        first = cell.red[0]
        line += f": {first.name}: {shorten_at_word(first.observed, 110)}"
    elif cell.verdict in (Verdict.ERROR, Verdict.SKIPPED):
        line += f": {shorten_at_word(cell.reason, 110)}"
    elif cell.verdict is Verdict.FAILED and not caught:
        only = {a.name for a in cell.red} <= INCONCLUSIVE
        line += (
            f" (inconclusive: only {', '.join(a.name for a in cell.red)} red)"
            if only and cell.red
            else " (red on the healthy consumer too: not a catch)"
        )
    return line


SHOWN_CATCHES = 3  # per mutant on the terminal; report.json and report.html have them all


def _catches(catches: Sequence[Catch]) -> str:
    shown = "; ".join(f"{c.drill} ({', '.join(c.assertions)})" for c in catches[:SHOWN_CATCHES])
    more = len(catches) - SHOWN_CATCHES
    return shown + (f"; +{more} more" if more > 0 else "")


def print_matrix(matrix: Matrix, stream: TextIO) -> None:
    """Per mutant the drills that caught it (first red assertion); per drill the mutants it catches."""
    mutant_rows = [
        (
            row.name,
            "SURVIVED (tried: " + (", ".join(row.tried) or "no drill") + ")"
            if row.survived
            else _catches(row.caught_by),
        )
        for row in matrix.mutant_rows()
    ]
    stream.write(tabulate(mutant_rows, headers=["mutant", "caught by (assertions that went red)"]))
    stream.write("\n\n")
    drill_rows = [
        (
            row.name,
            row.standing.value,
            f"control: {shorten_at_word(row.control or '', 90)}"
            if row.standing is DrillStanding.CONTROL
            else ", ".join(row.catches) or "-",
        )
        for row in matrix.drill_rows()
    ]
    stream.write(tabulate(drill_rows, headers=["drill", "standing", "mutants it catches"]))
    stream.write("\n")


def print_verdict(matrix: Matrix, stream: TextIO) -> None:
    """Each surviving mutant and each drill without teeth on a line of its own, then the verdict."""
    verdict = matrix.verdict()
    for mutant in matrix.mutant_rows():
        if mutant.survived:
            stream.write(
                f"surviving mutant: {mutant.name} ({mutant.does}): no drill caught it; tried "
                f"{', '.join(mutant.tried) or 'no drill'}\n"
            )
    for row in matrix.drill_rows():
        if row.standing is DrillStanding.NO_TEETH:
            stream.write(
                f"drill with no teeth: {row.name} ({row.file}): caught none of "
                f"{', '.join(row.tried) or 'the mutants'}; make its expectations catch the defect "
                "its fault provokes, or declare `control: <why>` in its file\n"
            )
        elif row.standing is DrillStanding.RED_ON_HEALTHY:
            stream.write(
                f"red on the healthy consumer: {row.name}: it failed against AssistSupport's own "
                "rules twice, so it catches nothing; its runs are in report.json (a timing check "
                "on a busy machine: run again on a quieter one)\n"
            )
    stream.write(f"{'passed' if verdict.passed else 'failed'}: {verdict.reason}\n")


class MutantsRun:
    """One `mkdrill mutants`: the record kept current and written after every drill run."""

    def __init__(self, request: MutantsRequest, plan: RunPlan, out_dir: Path, stream: TextIO):
        self.request = request
        self.plan = plan
        self.out_dir = out_dir
        self.stream = stream
        self.run_id = plan.run_id
        self.started = time.monotonic()
        self.started_at = SystemClock().utc_iso()
        self.listener = MutantsProgress(stream)
        self.first_switch_at: float | None = None
        self.facts = [
            DrillFacts(
                name=d.drill.name,
                file=str(d.path),
                control=d.drill.control,
                expected_red=d.drill.expected_red is not None,
            )
            for d in plan.drills
        ]
        learned = learned_catches(request.learn_from) if request.learn_from else None
        self.session = MutantsSession(
            plan.drills,
            request.defects,
            request.mode,
            DrillOrder([d.drill for d in plan.drills], learned),
            self._cell_done,
            self._switched,
        )

    def matrix(self) -> Matrix:
        """The matrix as far as the run got."""
        return Matrix(self.facts, self.request.defects, self.session.cells)

    def header(self) -> str:
        """The run's first line."""
        settings = self.plan.drill_settings
        source = (
            "pin default_timeout_ms"
            if settings.consumer_timeout_from_pin
            else "--consumer-timeout-ms"
        )
        return (
            f"mkdrill mutants {self.run_id}: {self.request.mode} mode, backend {self.plan.backend}, "
            f"suite {self.plan.suite or '-'}: {len(self.plan.drills)} drills × "
            f"{len(self.request.defects)} mutants, consumer timeout "
            f"{settings.consumer_timeout_ms} ms ({source})\n"
        )

    def _switched(self, defect: ConsumerDefect) -> None:
        if self.first_switch_at is None:
            self.first_switch_at = time.monotonic()
        self.stream.write(f"mutant {defect.value}: {DEFECTS[defect].does}\n")
        self.stream.flush()

    def _cell_done(self, cell: Cell, caught: bool) -> None:
        if cell.defect == ConsumerDefect.NONE.value and len(self.session.cells) == 1:
            self.stream.write("healthy consumer (AssistSupport's rules):\n")
        self.stream.write(cell_line(cell, caught) + "\n")
        self.stream.flush()
        self.save("running")

    def record(self, state: str, error: str | None = None) -> MutantsRecord:
        """The record now."""
        matrix = self.matrix()
        now = time.monotonic()
        first = self.listener.first_drill_at or now
        switched = self.first_switch_at or now
        settings = self.plan.drill_settings
        pin = self.plan.consumer_pin
        return MutantsRecord(
            run_id=self.run_id,
            tool_version=__version__,
            started_at=self.started_at,
            finished_at=None if state == "running" else SystemClock().utc_iso(),
            state=state,
            error=error,
            backend=self.plan.backend,
            suite=self.plan.suite,
            mode=self.request.mode,
            pin=f"{pin.release_tag} ({pin.expected_service_contract_version})",
            consumer_timeout_ms=settings.consumer_timeout_ms,
            timeout_source="pin default_timeout_ms"
            if settings.consumer_timeout_from_pin
            else "--consumer-timeout-ms",
            learned_from=str(self.request.learn_from) if self.request.learn_from else None,
            healthy_reruns=list(self.session.reruns),
            wall_s=round(now - self.started, 1),
            phases_s={
                "setup_s": round(first - self.started, 1),
                "healthy_s": round(switched - first, 1),
                "mutants_s": round(now - switched, 1),
            },
            verdict=matrix.verdict(),
            mutants=matrix.mutant_rows(),
            drills=matrix.drill_rows(),
            cells=matrix.cells,
        )

    def save(self, state: str, error: str | None = None) -> MutantsRecord:
        """Write report.json and report.html as things stand."""
        record = self.record(state, error)
        write_reports(record, self.out_dir)
        return record


def execute_mutants(request: MutantsRequest, stream: TextIO = sys.stdout) -> int:
    """Run the request; return the exit code (errors propagate as DrillError with theirs)."""
    run_id = new_run_id()
    plan = plan_run(request.run, run_id)
    out_dir = request.run.out or request.run.reports_root / f"mutants-{run_id}"
    run = MutantsRun(request, plan, out_dir, stream)
    stream.write(run.header())
    with environment_lock(request.run.backend, request.run.reports_root, run_id):
        if plan.proxy_listen:
            ensure_free(parse_listen(plan.proxy_listen))
        env = make_environment(
            plan.backend,
            run_id,
            request.run.reports_root,
            request.toxiproxy_url,
            request.memorykernel_image,
            request.run.memorykernel_bins,
            request.toxiproxy_image,
            plan.proxy_listen,
        )
        from runner.probes.seed import seed_policy

        engine = Engine(plan, env, SystemClock(), run.listener, seed=seed_policy)
        try:
            with interrupts_raise(run_id):
                engine.run(run.session.driver(engine))
        except Interrupted:
            run.save("interrupted", "interrupted by signal; cleanup ran")
            stream.write(f"interrupted: cleanup ran; report in {out_dir}\n")
            raise
        except DrillError as exc:
            run.save("error", str(exc))
            stream.write(f"report in {out_dir}\n")
            raise
    record = run.save("finished")
    stream.write("\n")
    print_matrix(run.matrix(), stream)
    print_verdict(run.matrix(), stream)
    phases = record.phases_s
    stream.write(
        f"wall time: {record.wall_s:.0f} s ({request.mode} mode; healthy consumer "
        f"{phases['healthy_s']:.0f} s, mutants {phases['mutants_s']:.0f} s)\n"
        f"reports: {out_dir}\n"
    )
    return EXIT_PASSED if record.verdict.passed else EXIT_DRILL_FAILED
