"""The sensitivity matrix: which drill caught which consumer defect, and the verdict it implies.

Pure functions of the drill results (no I/O). A defect is caught by a drill that fails against it
while the same drill passed against the healthy consumer in the same run; a drill red on the
healthy consumer catches nothing. A catch needs a red assertion on the Draft flow itself: a fault
window the probe could not fill (`probe_rate` alone, the harness's own check, which a busy machine
can fail) is inconclusive. The matrix passes when every defect is caught by at least one drill and
every drill catches at least one defect or is a declared control.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runner.consumers.defects import DEFECTS, ConsumerDefect
from runner.record import DrillResult, Phase, Verdict

SCHEMA_VERSION = "1.0"
HEALTHY = ConsumerDefect.NONE.value
INCONCLUSIVE = frozenset(
    {"probe_rate"}
)  # red alone, it says the window was thin, not the flow wrong


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RedAssertion(_Record):
    """An assertion that went red, as the drill's report names it."""

    name: str
    phase: Phase
    expected: str
    observed: str


class Cell(_Record):
    """One drill run against one consumer: the healthy one (`defect` none) or a mutant."""

    drill: str
    defect: str
    verdict: Verdict
    red: list[RedAssertion] = Field(description="every assertion that failed, in order")
    reason: str
    started_at: str
    duration_s: float


class DrillStanding(StrEnum):
    """What a drill showed in the matrix."""

    TEETH = "teeth"  # caught at least one defect
    CONTROL = "control"  # declared a control in its file: no catch required
    NO_TEETH = "no-teeth"  # caught none, and not a control
    RED_ON_HEALTHY = "red-on-healthy"  # failed against the healthy consumer: catches nothing
    EXPECTED_RED = "expected-red"  # red by design (a known finding): cannot catch anything
    SKIPPED = "skipped"  # the backend could not inject its fault


class Catch(_Record):
    """A drill that caught a defect: the assertions that went red, the first one's observation."""

    drill: str
    assertions: list[str]
    observed: str


class MutantRow(_Record):
    """One defect: what it breaks, who caught it, which drills were tried."""

    name: str
    does: str
    bug_class: str
    rule: str
    caught_by: list[Catch]
    tried: list[str]
    survived: bool


class DrillRow(_Record):
    """One drill: how it did against the healthy consumer and which defects it caught."""

    name: str
    file: str
    standing: DrillStanding
    healthy: Verdict | None
    control: str | None
    catches: list[str]
    tried: list[str]


class MatrixVerdict(_Record):
    """Pass only with no surviving defect, no drill without teeth, none red on the healthy consumer."""

    passed: bool
    survivors: list[str]
    no_teeth: list[str]
    red_on_healthy: list[str]
    reason: str


def cell_of(result: DrillResult, defect: ConsumerDefect) -> Cell:
    """The matrix's view of one drill result."""
    return Cell(
        drill=result.name,
        defect=defect.value,
        verdict=result.verdict,
        red=[
            RedAssertion(name=a.name, phase=a.phase, expected=a.expected, observed=a.observed)
            for a in result.assertions
            if not a.passed
        ],
        reason=result.reason,
        started_at=result.started_at,
        duration_s=result.duration_s,
    )


def is_catch(cell: Cell, healthy: Cell | None) -> bool:
    """Red on the Draft flow against the mutant, green against the healthy consumer of the run."""
    return (
        cell.defect != HEALTHY
        and cell.verdict is Verdict.FAILED
        and any(a.name not in INCONCLUSIVE for a in cell.red)
        and healthy is not None
        and healthy.verdict is Verdict.PASSED
    )


def standing(
    drill: str, control: str | None, expected_red: bool, healthy: Cell | None, caught: bool
) -> DrillStanding:
    """A drill's standing from its healthy run, its file and its catches."""
    if healthy is not None and healthy.verdict is Verdict.SKIPPED:
        return DrillStanding.SKIPPED
    if expected_red:
        return DrillStanding.EXPECTED_RED
    if healthy is None or healthy.verdict is not Verdict.PASSED:
        return DrillStanding.RED_ON_HEALTHY
    if caught:
        return DrillStanding.TEETH
    return DrillStanding.CONTROL if control else DrillStanding.NO_TEETH


class DrillFacts(_Record):
    """What the matrix needs of a drill file."""

    name: str
    file: str
    control: str | None = None
    expected_red: bool = False


class Matrix:
    """The cells of one mutants run, and what they say."""

    def __init__(
        self, drills: Sequence[DrillFacts], defects: Sequence[ConsumerDefect], cells: Sequence[Cell]
    ) -> None:
        self.drills = list(drills)
        self.defects = list(defects)
        self.cells = list(cells)
        self._healthy = {c.drill: c for c in self.cells if c.defect == HEALTHY}

    def healthy(self, drill: str) -> Cell | None:
        """The drill's run against the healthy consumer."""
        return self._healthy.get(drill)

    def catches(self, defect: ConsumerDefect) -> list[Cell]:
        """The cells in which `defect` was caught, in run order."""
        return [
            c
            for c in self.cells
            if c.defect == defect.value and is_catch(c, self._healthy.get(c.drill))
        ]

    def caught_by_drill(self, drill: str) -> list[str]:
        """The defects `drill` caught, in catalog order."""
        caught = {
            c.defect for c in self.cells if c.drill == drill and is_catch(c, self.healthy(drill))
        }
        return [d.value for d in self.defects if d.value in caught]

    def tried(self, defect: ConsumerDefect | None = None, drill: str | None = None) -> list[str]:
        """Drills run against `defect`, or defects run against `drill` (healthy runs excluded)."""
        mutant_cells = [c for c in self.cells if c.defect != HEALTHY]
        if defect is not None:
            return [c.drill for c in mutant_cells if c.defect == defect.value]
        return [c.defect for c in mutant_cells if c.drill == drill]

    def mutant_rows(self) -> list[MutantRow]:
        """One row per defect, in catalog order."""
        rows = []
        for defect in self.defects:
            info = DEFECTS[defect]
            catches = [
                Catch(
                    drill=c.drill,
                    assertions=[a.name for a in c.red],
                    observed=c.red[0].observed if c.red else c.reason,
                )
                for c in self.catches(defect)
            ]
            rows.append(
                MutantRow(
                    name=defect.value,
                    does=info.does,
                    bug_class=info.bug_class,
                    rule=info.rule,
                    caught_by=catches,
                    tried=self.tried(defect=defect),
                    survived=not catches,
                )
            )
        return rows

    def drill_rows(self) -> list[DrillRow]:
        """One row per drill, in the order given."""
        rows = []
        for facts in self.drills:
            healthy = self.healthy(facts.name)
            catches = self.caught_by_drill(facts.name)
            rows.append(
                DrillRow(
                    name=facts.name,
                    file=facts.file,
                    standing=standing(
                        facts.name, facts.control, facts.expected_red, healthy, bool(catches)
                    ),
                    healthy=healthy.verdict if healthy is not None else None,
                    control=facts.control,
                    catches=catches,
                    tried=self.tried(drill=facts.name),
                )
            )
        return rows

    def verdict(self) -> MatrixVerdict:
        """Every defect caught, every drill with teeth or a control, none red on the healthy consumer."""
        survivors = [r.name for r in self.mutant_rows() if r.survived]
        drills = self.drill_rows()
        no_teeth = [r.name for r in drills if r.standing is DrillStanding.NO_TEETH]
        red = [r.name for r in drills if r.standing is DrillStanding.RED_ON_HEALTHY]
        problems = []
        if survivors:
            problems.append(f"surviving mutants: {', '.join(survivors)}")
        if no_teeth:
            problems.append(f"drills with no teeth: {', '.join(no_teeth)}")
        if red:
            problems.append(f"red on the healthy consumer: {', '.join(red)}")
        caught = len(self.defects) - len(survivors)
        reason = (
            "; ".join(problems)
            if problems
            else f"every mutant caught ({caught} of {len(self.defects)}), every drill catches "
            "one or is a declared control"
        )
        return MatrixVerdict(
            passed=not problems,
            survivors=survivors,
            no_teeth=no_teeth,
            red_on_healthy=red,
            reason=reason,
        )


Mode = Literal["quick", "full"]
