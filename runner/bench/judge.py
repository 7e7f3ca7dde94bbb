"""Whether a figure meets its goal, and whether a change won: never on an unfair machine.

A goal against a fixed number is judged only when the machine was quiet while the figure was
measured; a comparison of two sides (mkdrill and Chaos Toolkit, the embedded and the real
Toxiproxy, before and after a change) only when neither side ran on a clearly busier machine.
Otherwise the verdict is `not judged` and says which side was busier and by how much.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from runner.bench.load import LoadSpan, busier_side, overall

Verdict = Literal["met", "missed", "not judged"]
ChangeVerdict = Literal["win", "loss", "no change", "not comparable"]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}
# A change smaller than this share of the before median is noise, not a win or a loss.
NO_CHANGE_SHARE = 0.02


@dataclass(frozen=True)
class Goal:
    """`value OP target`, e.g. `<= 0.5`."""

    op: str
    target: float

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.target)

    def describe(self) -> str:
        return f"{self.op.replace('<=', '≤').replace('>=', '≥')} {self.target:g}"


@dataclass(frozen=True)
class Judgement:
    """A figure against its goal."""

    goal: str
    value: float | None
    verdict: Verdict
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "goal": self.goal,
            "value": self.value,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def _against(goal: Goal, value: float | None, how: str) -> Judgement:
    if value is None:
        return Judgement(goal.describe(), None, "not judged", "not measured")
    met = goal.holds(value)
    return Judgement(goal.describe(), value, "met" if met else "missed", how)


def judge_quiet(goal: Goal, value: float | None, loads: Sequence[LoadSpan]) -> Judgement:
    """Judged against `goal` only if every span it was measured in was quiet."""
    if not loads:
        return Judgement(goal.describe(), value, "not judged", "no load recorded")
    busy = [span for span in loads if not span.quiet]
    if busy:
        worst = max(busy, key=lambda s: s.other_cores or 0.0)
        return Judgement(
            goal.describe(),
            value,
            "not judged",
            f"machine busy in {len(busy)} of {len(loads)} measurements ({worst.describe()})",
        )
    return _against(goal, value, f"quiet machine ({overall(loads).describe()})")


def unfair_pairs(pairs: Sequence[tuple[LoadSpan, LoadSpan]], sides: tuple[str, str]) -> str | None:
    """Why the pairs are no fair comparison (which side ran busier, how often), or None."""
    busier: dict[str, list[tuple[LoadSpan, LoadSpan]]] = {}
    for a, b in pairs:
        side = busier_side(a, b)
        if side is not None:
            busier.setdefault(side, []).append((a, b))
    if not busier:
        return None
    parts = []
    for side, which in busier.items():
        a, b = which[0]
        if side == "unknown":
            parts.append(f"load unknown in {len(which)} of {len(pairs)} pairs")
            continue
        name = sides[0] if side == "a" else sides[1]
        parts.append(
            f"the {name} side ran busier in {len(which)} of {len(pairs)} pairs "
            f"({sides[0]}: {a.describe()}; {sides[1]}: {b.describe()})"
        )
    return "; ".join(parts)


def judge_paired(
    goal: Goal,
    value: float | None,
    pairs: Sequence[tuple[LoadSpan, LoadSpan]],
    sides: tuple[str, str],
) -> Judgement:
    """Judged against `goal` only if both sides of every pair ran under the same load."""
    if not pairs:
        return Judgement(goal.describe(), value, "not judged", "no paired load recorded")
    unfair = unfair_pairs(pairs, sides)
    if unfair is not None:
        return Judgement(goal.describe(), value, "not judged", unfair)
    a = overall([p[0] for p in pairs])
    b = overall([p[1] for p in pairs])
    return _against(
        goal,
        value,
        f"both sides under the same load ({sides[0]}: {a.describe()}; {sides[1]}: {b.describe()})",
    )


@dataclass(frozen=True)
class Change:
    """One change measured before and after: the figure's median, min, max and load each side."""

    name: str
    figure: str
    before: dict[str, object]
    after: dict[str, object]
    before_commit: str | None
    commit: str | None
    verdict: ChangeVerdict
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "figure": self.figure,
            "before": self.before,
            "after": self.after,
            "before_commit": self.before_commit,
            "commit": self.commit,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def judge_change(
    before: float,
    after: float,
    before_load: LoadSpan | None,
    after_load: LoadSpan | None,
    lower_is_better: bool = True,
) -> tuple[ChangeVerdict, str]:
    """A win only when after beats before by more than noise with both measured under the same load."""
    if before_load is None or after_load is None:
        return "not comparable", "the load of one side was not recorded"
    side = busier_side(before_load, after_load)
    if side is not None:
        which = {"a": "before", "b": "after"}.get(side, "one side (load unknown)")
        return (
            "not comparable",
            f"{which} ran on a busier machine (before: {before_load.describe()}; "
            f"after: {after_load.describe()})",
        )
    loads = f"before: {before_load.describe()}; after: {after_load.describe()}"
    if abs(after - before) <= abs(before) * NO_CHANGE_SHARE:
        return "no change", loads
    better = after < before if lower_is_better else after > before
    return ("win" if better else "loss"), loads
