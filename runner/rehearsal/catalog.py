"""The scenario catalog: `rehearsals/*.yaml` validated like drills before anything starts."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.errors import DefinitionError
from runner.loader import (
    DRILL_SUFFIXES,
    load_definitions,
    parse_mapping_text,
    read_definition_text,
    validate_mapping,
)
from runner.rehearsal.scenario import Scenario

NOUN = "scenario file"
SCENARIO_FOLDER = "rehearsals"


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario and the file it came from."""

    scenario: Scenario
    path: Path


def default_scenarios_dir() -> Path:
    """The shipped scenarios: the source checkout's `rehearsals/`, else the installed package's copy."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "rehearsals", package / "data" / "rehearsals"):
        if candidate.is_dir():
            return candidate
    return Path("rehearsals")


def is_scenario_path(path: Path) -> bool:
    """A `rehearsals` folder, or a file inside one: scenarios, not drills."""
    resolved = path.resolve()
    return any(
        part == SCENARIO_FOLDER for part in (resolved.name, *(p.name for p in resolved.parents))
    )


def load_scenario_file(path: Path) -> LoadedScenario:
    """Read and validate one scenario file (DrillFilesInvalid lists every problem)."""
    shown = str(path)
    text = read_definition_text(path, NOUN)
    return LoadedScenario(
        validate_mapping(parse_mapping_text(text, shown, NOUN), shown, Scenario), path
    )


def load_scenarios(paths: Sequence[Path]) -> list[LoadedScenario]:
    """Every scenario file under `paths`, all problems reported at once; names must be unique."""
    return load_definitions(
        paths, load_scenario_file, lambda s: (s.scenario.name, s.path), "scenario"
    )


def choose_scenario(
    folder: Path, wanted: str | None, pick: random.Random | None = None
) -> LoadedScenario:
    """The scenario named (catalog name or file path), or one of the catalog at random."""
    if wanted is not None and (Path(wanted).suffix in DRILL_SUFFIXES or Path(wanted).is_file()):
        return load_scenario_file(Path(wanted))
    catalog = load_scenarios([folder])
    if wanted is None:
        return (pick or random.SystemRandom()).choice(catalog)
    for item in catalog:
        if item.scenario.name == wanted:
            return item
    names = ", ".join(sorted(i.scenario.name for i in catalog))
    raise DefinitionError(
        f"SCENARIO: unknown scenario {wanted!r}; shipped: {names} (or give a scenario file path)"
    )
