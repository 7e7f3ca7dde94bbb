"""Load and validate drill files before anything starts; every problem becomes `file: field: message`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from runner.errors import DefinitionError
from runner.spec import KNOWN_SUITES, Drill

MAX_FILE_BYTES = 256 * 1024
MAX_ALIASES = 16  # drill files need none; a few are harmless, many are an alias bomb
DRILL_SUFFIXES = (".yaml", ".yml")
# libyaml's parser when PyYAML was built with it (its wheels are): the same YAML, ten times faster.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ModelT = TypeVar("ModelT", bound=BaseModel)
LoadedT = TypeVar("LoadedT")


@dataclass(frozen=True)
class LoadedDrill:
    """A validated drill and the file it came from.

    Once a run resolved it, `drill` holds numbers and `relative` the fields the file wrote relative
    to the consumer timeout, as written (`{"fault.latency_ms": "timeout + 300ms"}`).
    """

    drill: Drill
    path: Path
    relative: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """One problem in one drill file."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        text = (
            f"{self.path}: {self.field}: {self.message}"
            if self.field
            else f"{self.path}: {self.message}"
        )
        return " ".join(text.split("\n")) if text.isprintable() else _printable(text)


def _printable(text: str) -> str:
    """One line, no control characters: odd keys in a drill file must not break the error format."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class DrillFilesInvalid(DefinitionError):
    """One or more drill files are invalid; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def default_drills_dir() -> Path:
    """The catalog: the source checkout's `drills/`, else the copy inside the installed package."""
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "drills", package / "data" / "drills"):
        if candidate.is_dir():
            return candidate
    return Path("drills")


def _field_path(loc: Iterable[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts)


def _describe(error: Any) -> tuple[str, str]:
    """Turn one pydantic error into (field, message) in the project's wording."""
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper())]
    # Drop the discriminator tag pydantic inserts after `fault` (e.g. fault.latency.latency_ms),
    # wherever the fault sits (a scenario's incident[0].fault.latency.latency_ms too).
    if error["type"] != "union_tag_invalid":
        for at in range(len(loc) - 1):
            if loc[at] == "fault" and isinstance(loc[at + 1], str):
                loc = [*loc[: at + 1], *loc[at + 2 :]]
                break
    field = _field_path(loc)
    kind = error["type"]
    got = error.get("input")
    message = error["msg"]
    if kind == "extra_forbidden":
        return field, "unknown field; remove it or check its spelling"
    if kind == "missing":
        return field, "required field is missing"
    if kind == "union_tag_invalid":
        return field + ".kind" if not field.endswith("kind") else field, (
            f"unknown fault kind {error['ctx']['tag']!r}; use one of {error['ctx']['expected_tags']}"
        )
    if kind == "union_tag_not_found":
        return field + ".kind", "required field is missing (the fault kind)"
    if kind == "value_error":
        text = str(error["ctx"]["error"])
        if ": " in text and text.split(": ", 1)[0].replace(".", "").replace("_", "").isalnum():
            sub, text = text.split(": ", 1)
            field = f"{field}.{sub}" if field else sub
        return field, text
    if kind.startswith(("greater_than", "less_than")):
        message = message.replace("Input should be ", "must be ")
    elif kind == "string_pattern_mismatch":
        message = f"does not match {error['ctx']['pattern']}"
    else:
        message = message[0].lower() + message[1:]
    if got is not None and not isinstance(got, dict | list):
        message = f"{message} (got {got!r})"
    return field, message


def _count_aliases(text: str) -> int:
    count = 0
    for event in yaml.parse(text, Loader=SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count > MAX_ALIASES:
                break
    return count


def parse_mapping_text(text: str, path: str, noun: str = "drill file") -> dict[str, Any]:
    """Parse one YAML document holding a mapping; DrillFilesInvalid naming the file otherwise."""
    try:
        if _count_aliases(text) > MAX_ALIASES:
            raise DrillFilesInvalid(
                [Problem(path, "", f"more than {MAX_ALIASES} YAML aliases; {noun}s need none")]
            )
        data = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "somewhere"
        problem = (exc.problem or str(exc)).strip()
        if isinstance(exc, yaml.constructor.ConstructorError):
            problem = f"{problem}; only plain YAML is allowed (no tags)"
        raise DrillFilesInvalid([Problem(path, "", f"YAML error at {where}: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise DrillFilesInvalid([Problem(path, "", f"YAML error: {exc}".splitlines()[0])]) from None
    except RecursionError:
        raise DrillFilesInvalid([Problem(path, "", "YAML nesting too deep")]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        what = "name, fault, ..." if noun == "drill file" else "name, incident, checklist, ..."
        raise DrillFilesInvalid(
            [Problem(path, "", f"a {noun} holds one mapping ({what}); this one is {kind}")]
        )
    return data


def validate_mapping(data: dict[str, Any], path: str, model: type[ModelT]) -> ModelT:
    """Validate a parsed mapping against a frozen definition model; every problem `file: field: message`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(path, *_describe(err)) for err in exc.errors()]
        raise DrillFilesInvalid(problems) from None
    except RecursionError:
        raise DrillFilesInvalid([Problem(path, "", "YAML nesting too deep")]) from None


def parse_drill_text(text: str, path: str) -> Drill:
    """Parse one drill document; raise DrillFilesInvalid with every problem found."""
    return validate_mapping(parse_mapping_text(text, path), path, Drill)


def read_definition_text(path: Path, noun: str = "drill file") -> str:
    """The UTF-8 text of one definition file (size-capped); DrillFilesInvalid naming the file."""
    shown = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DrillFilesInvalid(
                [Problem(shown, "", f"file is {size} bytes; {noun}s are at most {MAX_FILE_BYTES}")]
            )
        raw = path.read_bytes()
    except DrillFilesInvalid:
        raise
    except IsADirectoryError:
        raise DrillFilesInvalid(
            [Problem(shown, "", f"is a directory; name {noun}s or a folder of them")]
        ) from None
    except OSError as exc:
        raise DrillFilesInvalid(
            [
                Problem(
                    shown, "", f"cannot read: {exc.strerror or exc}; check the path and permissions"
                )
            ]
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DrillFilesInvalid(
            [Problem(shown, "", f"not UTF-8 text (byte {exc.start})")]
        ) from None


def load_drill_file(path: Path) -> LoadedDrill:
    """Read and validate one drill file."""
    return LoadedDrill(parse_drill_text(read_definition_text(path), str(path)), path)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Every definition file (*.yaml, *.yml) named, or under a named folder, in order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in DRILL_SUFFIXES and p.is_file())
            )
        else:
            files.append(path)
    return files


def load_definitions(
    paths: Sequence[Path],
    load_one: Callable[[Path], LoadedT],
    name_of: Callable[[LoadedT], tuple[str, Path]],
    noun: str,
) -> list[LoadedT]:
    """Load every definition file under `paths`; all problems at once; names must be unique.

    `name_of` gives a loaded definition's name and file; `noun` names the kind (drill, scenario).
    """
    problems: list[Problem] = []
    loaded: list[LoadedT] = []
    files = expand_paths(paths)
    if not files:
        shown = ", ".join(str(p) for p in paths) or "(nothing)"
        raise DrillFilesInvalid([Problem(shown, "", f"no {noun} files (*.yaml) found")])
    for file in files:
        try:
            loaded.append(load_one(file))
        except DrillFilesInvalid as exc:
            problems.extend(exc.problems)
    seen: dict[str, Path] = {}
    for item in loaded:
        name, path = name_of(item)
        first = seen.setdefault(name, path)
        if first != path:
            problems.append(
                Problem(str(path), "name", f"{noun} name {name!r} is also used by {first}")
            )
    if problems:
        raise DrillFilesInvalid(problems)
    return loaded


def load_drills(paths: Sequence[Path]) -> list[LoadedDrill]:
    """Load every drill file under `paths` (files or folders); report all problems at once."""
    return load_definitions(paths, load_drill_file, lambda d: (d.drill.name, d.path), "drill")


def select_drills(
    catalog: Sequence[LoadedDrill], names: Sequence[str], suite: str | None
) -> list[LoadedDrill]:
    """Pick drills by name (in the order given) or by suite; unknown names are bad input."""
    if suite is not None and suite not in KNOWN_SUITES:
        raise DefinitionError(
            f"--suite: unknown suite {suite!r}; use one of {', '.join(KNOWN_SUITES)}"
        )
    by_name = {d.drill.name: d for d in catalog}
    chosen: list[LoadedDrill] = []
    for name in names:
        if name in by_name:
            chosen.append(by_name[name])
            continue
        candidate = Path(name)
        if candidate.suffix in DRILL_SUFFIXES or candidate.exists():
            chosen.extend(load_drills([candidate]))
            continue
        raise DefinitionError(
            f"DRILL: unknown drill {name!r}; run `mkdrill list` to see the catalog, or give a drill file path"
        )
    if suite is not None:
        chosen = [d for d in (chosen or catalog) if suite in d.drill.suites]
        if not chosen:
            raise DefinitionError(f"--suite: no drill in suite {suite!r}")
    return chosen
