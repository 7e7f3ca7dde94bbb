"""What an operator types during a rehearsal, parsed into commands (one line each, Enter sends it)."""

from __future__ import annotations

from dataclasses import dataclass

HELP = (
    "d TEXT diagnosis · do N perform step N · v N verify step N · n TEXT note · "
    "p TEXT prevention action · quit"
)


@dataclass(frozen=True)
class Diagnose:
    """What the operator thinks is wrong (the first one stops the time to detect)."""

    text: str


@dataclass(frozen=True)
class Note:
    """A free note for the incident summary."""

    text: str


@dataclass(frozen=True)
class Prevent:
    """A prevention action for the incident summary."""

    text: str


@dataclass(frozen=True)
class Perform:
    """Ask mkdrill to perform checklist step `number` (then verify it)."""

    number: int


@dataclass(frozen=True)
class Verify:
    """Ask mkdrill to verify checklist step `number` as things stand."""

    number: int


@dataclass(frozen=True)
class Quit:
    """End the rehearsal now (the summary is marked interrupted)."""


@dataclass(frozen=True)
class Help:
    """Show the commands."""


@dataclass(frozen=True)
class Abandon:
    """The unattended operator gives up: the rehearsal ends, failed, with the reason."""

    reason: str


Command = Diagnose | Note | Prevent | Perform | Verify | Quit | Help | Abandon


class CommandError(ValueError):
    """A line that is not a command; the message says what to type instead."""


_TEXT_COMMANDS: dict[str, type[Diagnose] | type[Note] | type[Prevent]] = {
    "d": Diagnose,
    "diagnose": Diagnose,
    "diagnosis": Diagnose,
    "n": Note,
    "note": Note,
    "p": Prevent,
    "prevent": Prevent,
    "prevention": Prevent,
}
_STEP_COMMANDS: dict[str, type[Perform] | type[Verify]] = {
    "do": Perform,
    "perform": Perform,
    "v": Verify,
    "verify": Verify,
}


def parse_command(line: str, steps: int, next_step: int | None) -> Command:
    """One typed line → a command; `do`/`v` without a number mean the next unverified step."""
    words = line.strip().split(maxsplit=1)
    if not words:
        raise CommandError(f"type a command: {HELP}")
    verb, rest = words[0].lower(), (words[1].strip() if len(words) > 1 else "")
    if verb in _TEXT_COMMANDS:
        if not rest:
            raise CommandError(f"{verb}: add the text, e.g. `{verb} MemoryKernel is down`")
        return _TEXT_COMMANDS[verb](" ".join(rest.split()))
    if verb in _STEP_COMMANDS:
        return _STEP_COMMANDS[verb](_step_number(verb, rest, steps, next_step))
    if verb in ("quit", "q", "exit"):
        return Quit()
    if verb in ("help", "h", "?"):
        return Help()
    raise CommandError(f"unknown command {verb!r}: {HELP}")


def _step_number(verb: str, rest: str, steps: int, next_step: int | None) -> int:
    if not rest:
        if next_step is None:
            raise CommandError(f"{verb}: every step is verified already")
        return next_step
    try:
        number = int(rest)
    except ValueError:
        raise CommandError(f"{verb}: give a step number 1..{steps} (got {rest!r})") from None
    if not 1 <= number <= steps:
        raise CommandError(f"{verb}: the checklist has steps 1..{steps} (got {number})")
    return number
