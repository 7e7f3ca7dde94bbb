"""One mutants run inside one environment: the healthy consumer first, then each defect in turn.

The engine brings the environment up once and hands this session a runner for single drills
(its driven mode); between drills the session restarts only the consumer, with another defect.
Full mode runs every drill against every defect. Quick mode stops each defect at its first catch,
trying the drills most likely to catch it first, then gives each drill that caught nothing yet
the defects most likely to be caught by it until it catches one: both halves of the verdict
(every defect caught, every drill with teeth) are settled with as few drill runs as it can.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from runner.consumers.defects import ConsumerDefect
from runner.engine import DrillRunner, Engine
from runner.loader import LoadedDrill
from runner.mutants.matrix import Cell, Mode, cell_of, is_catch
from runner.mutants.order import DrillOrder
from runner.record import Verdict

log = logging.getLogger(__name__)

CellListener = Callable[[Cell, bool], None]
"""Told of every drill run: its cell and whether it is a catch."""
SwitchListener = Callable[[ConsumerDefect], None]
"""Told when the consumer is restarted with another defect."""


class MutantsSession:
    """Decides which drill runs against which defect, and records the cells."""

    def __init__(
        self,
        drills: Sequence[LoadedDrill],
        defects: Sequence[ConsumerDefect],
        mode: Mode,
        order: DrillOrder,
        on_cell: CellListener,
        on_switch: SwitchListener,
    ) -> None:
        self.drills = list(drills)
        self.defects = list(defects)
        self.mode = mode
        self._order = order
        self._on_cell = on_cell
        self._on_switch = on_switch
        self.cells: list[Cell] = []
        self.broken: str | None = None  # a drill errored: the environment is in doubt, stop
        self.reruns: list[str] = []  # drills run twice against the healthy consumer
        self._current = ConsumerDefect.NONE
        self._healthy: dict[str, Cell] = {}

    def driver(self, engine: Engine) -> Callable[[DrillRunner], None]:
        """The engine's driver: run the schedule with the engine's drill runner."""
        return lambda run_drill: self._drive(engine, run_drill)

    # The schedule -------------------------------------------------------------------------------

    def _drive(self, engine: Engine, run_drill: DrillRunner) -> None:
        for loaded in self.drills:
            cell = self._run(engine, run_drill, ConsumerDefect.NONE, loaded)
            if (
                cell is not None
                and cell.verdict is Verdict.FAILED
                and not loaded.drill.expected_red
            ):
                # Once more before the drill is judged red on AssistSupport's own rules: a busy
                # machine can fail a timing check once; the later run decides.
                self.reruns.append(loaded.drill.name)
                cell = self._run(engine, run_drill, ConsumerDefect.NONE, loaded)
            if cell is None:
                return
        eligible = [d for d in self.drills if self._eligible(d)]
        order = self._order.with_durations({n: c.duration_s for n, c in self._healthy.items()})
        if self.mode == "full":
            for defect in self.defects:
                for loaded in eligible:
                    if self._run(engine, run_drill, defect, loaded) is None:
                        return
            return
        targets = [d for d in eligible if d.drill.control is None]
        self._quick(engine, run_drill, order, targets)

    def _quick(
        self, engine: Engine, run_drill: DrillRunner, order: DrillOrder, targets: list[LoadedDrill]
    ) -> None:
        by_name = {d.drill.name: d for d in targets}
        teeth: set[str] = set()
        ran: set[tuple[ConsumerDefect, str]] = set()
        # Each defect until its first catch, most likely drills first.
        for defect in self.defects:
            for drill in order.ranked(defect):
                loaded = by_name.get(drill.name)
                if loaded is None:
                    continue
                ran.add((defect, drill.name))
                cell = self._run(engine, run_drill, defect, loaded)
                if cell is None:
                    return
                if self._caught(cell):
                    teeth.add(drill.name)
                    break
        # Each drill without a catch yet until its first, the likeliest defects first; a defect
        # is switched to once for every drill whose next candidate it is.
        while True:
            pending = {
                name: [
                    d for d in order.defects_for(loaded.drill, self.defects) if (d, name) not in ran
                ]
                for name, loaded in by_name.items()
                if name not in teeth
            }
            pending = {name: left for name, left in pending.items() if left}
            if not pending:
                return
            wanted = [left[0] for left in pending.values()]
            defect = max(self.defects, key=lambda d: (wanted.count(d), -self.defects.index(d)))
            for name, left in pending.items():
                if left[0] is not defect:
                    continue
                ran.add((defect, name))
                cell = self._run(engine, run_drill, defect, by_name[name])
                if cell is None:
                    return
                if self._caught(cell):
                    teeth.add(name)

    # One drill ------------------------------------------------------------------------------------

    def _eligible(self, loaded: LoadedDrill) -> bool:
        healthy = self._healthy.get(loaded.drill.name)
        return (
            healthy is not None
            and healthy.verdict is Verdict.PASSED
            and loaded.drill.expected_red is None
        )

    def _caught(self, cell: Cell) -> bool:
        return is_catch(cell, self._healthy.get(cell.drill))

    def _run(
        self,
        engine: Engine,
        run_drill: DrillRunner,
        defect: ConsumerDefect,
        loaded: LoadedDrill,
    ) -> Cell | None:
        """Run one drill against `defect`; None once the environment is in doubt (stop)."""
        if self.broken is not None:
            return None
        if defect is not self._current:
            self._on_switch(defect)
            engine.switch_defect(defect)
            self._current = defect
        result = run_drill(loaded)
        cell = cell_of(result, defect)
        self.cells.append(cell)
        if defect is ConsumerDefect.NONE:
            self._healthy[cell.drill] = cell
        self._on_cell(cell, self._caught(cell))
        if result.verdict is Verdict.ERROR:
            self.broken = f"{result.name} against {defect.value}: {result.reason}"
            return None
        return cell
