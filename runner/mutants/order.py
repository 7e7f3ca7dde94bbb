"""Which drills to try first against a defect: learned from an earlier matrix, else from the drill's traits.

A drill's traits are what its file says it provokes and expects (`fault:<kind>`,
`mode:<responder mode>`, `reason:<expected fallback reason>`, `during:<...>`, `codes`); each
defect lists the traits most likely to catch it, best first (`consumers.defects`). A drill that
caught the defect in an earlier run's report goes before any guess. Ties go to the drill that ran
fastest against the healthy consumer, so a quick run reaches its first catch soonest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.consumers.defects import DEFECTS, ConsumerDefect
from runner.errors import DefinitionError
from runner.spec import Drill, ResponderFault


def drill_traits(drill: Drill) -> frozenset[str]:
    """The traits a defect's `likely` hints are matched against."""
    traits = {f"fault:{drill.fault.kind}", f"during:{drill.expect.during.value}"}
    traits.update(f"reason:{reason.value}" for reason in drill.expect.fallback_reasons)
    if drill.expect.machine_error_codes is not None:
        traits.add("codes")
    if isinstance(drill.fault, ResponderFault):
        for entry in drill.fault.mode.split(","):
            traits.add("mode:" + entry.split("@", 1)[0].split(":", 1)[0])
    return frozenset(traits)


def hint_rank(defect: ConsumerDefect, drill: Drill) -> int | None:
    """The position of the defect's best hint the drill matches; None when none matches."""
    traits = drill_traits(drill)
    for rank, hint in enumerate(DEFECTS[defect].likely):
        if hint in traits:
            return rank
    return None


class DrillOrder:
    """Ranks drills for each defect; `learned` maps a defect to the drills that caught it before."""

    def __init__(
        self,
        drills: Sequence[Drill],
        learned: Mapping[str, Sequence[str]] | None = None,
        durations: Mapping[str, float] | None = None,
    ) -> None:
        self._drills = list(drills)
        self._learned = {k: list(v) for k, v in (learned or {}).items()}
        self._durations = dict(durations or {})

    def with_durations(self, durations: Mapping[str, float]) -> DrillOrder:
        """The same order, ties broken by these healthy-consumer durations."""
        return DrillOrder(self._drills, self._learned, durations)

    def likely(self, defect: ConsumerDefect, drill: Drill) -> bool:
        """The drill caught the defect before, or matches one of its hints."""
        return drill.name in self._learned.get(defect.value, ()) or (
            hint_rank(defect, drill) is not None
        )

    def ranked(self, defect: ConsumerDefect) -> list[Drill]:
        """Every drill, most likely to catch `defect` first."""
        learned = self._learned.get(defect.value, [])
        unmatched = len(DEFECTS[defect].likely)

        def key(drill: Drill) -> tuple[int, int, float, str]:
            seen = learned.index(drill.name) if drill.name in learned else len(learned)
            hint = hint_rank(defect, drill)
            return (
                seen,
                unmatched if hint is None else hint,
                self._durations.get(drill.name, 0.0),
                drill.name,
            )

        return sorted(self._drills, key=key)

    def defects_for(self, drill: Drill, defects: Sequence[ConsumerDefect]) -> list[ConsumerDefect]:
        """The defects most likely to be caught by `drill` first (catalog order breaks ties)."""
        position = {defect: index for index, defect in enumerate(defects)}

        def key(defect: ConsumerDefect) -> tuple[int, int, int, int]:
            seen = 0 if drill.name in self._learned.get(defect.value, ()) else 1
            hint = hint_rank(defect, drill)
            return (seen, hint is None, hint or 0, position[defect])

        return sorted(defects, key=key)


def learned_catches(report: Path) -> dict[str, list[str]]:
    """From an earlier `mkdrill mutants` report.json: defect name → the drills that caught it."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        rows = data["mutants"]
        return {
            str(row["name"]): [str(c["drill"]) for c in row["caught_by"]]
            for row in rows
            if isinstance(row, dict)
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DefinitionError(
            f"--learn-from {report}: not a readable mkdrill mutants report.json ({exc}); "
            "give the report.json of an earlier `mkdrill mutants` run"
        ) from exc
