"""The two operators a session can have: a person at a terminal (live screen, keys), or `--auto`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live

from runner.clock import Clock
from runner.rehearsal.auto import AutoOperator
from runner.rehearsal.commands import Command, CommandError, parse_command
from runner.rehearsal.entries import Event
from runner.rehearsal.keys import KeyReader, LineEditor
from runner.rehearsal.screen import ScreenContext, clock_label, render
from runner.rehearsal.state import RehearsalState

TICK_S = 0.1
REDRAW_S = 0.25  # the screen is redrawn at most this often, and at once on a key


class Operator(Protocol):
    """Who works the checklist: a person at the terminal, or the unattended operator."""

    def commands(self, state: RehearsalState, now: float, faults_all_in: bool) -> list[Command]:
        """The commands entered by `now`; may wait up to a tick for input."""
        ...

    def show(self, state: RehearsalState, now: float, consumer_pin: str) -> None:
        """Draw what the operator sees."""
        ...

    def idle_since(self) -> float | None:
        """Monotonic time of the last key, None when the operator cannot be idle (--auto)."""
        ...


class UnattendedOperator:
    """`--auto`: the AutoOperator's commands each tick, and every event printed as one line."""

    def __init__(self, clock: Clock, stream: TextIO | None = None, blind: bool = False) -> None:
        self._clock = clock
        self._stream = stream or sys.stdout
        self._blind = blind
        self._printed: set[Event] = set()

    def commands(self, state: RehearsalState, now: float, faults_all_in: bool) -> list[Command]:
        """Wait a tick, then what the unattended operator does next."""
        self._clock.sleep(TICK_S)
        return AutoOperator(state).commands(self._clock.now(), faults_all_in)

    def show(self, state: RehearsalState, now: float, consumer_pin: str) -> None:
        """Print the events not printed yet."""
        new = [e for e in state.events if e not in self._printed]
        print_events(new, self._stream, self._blind)
        self._printed.update(new)

    def idle_since(self) -> float | None:
        """Never idle."""
        return None


def print_events(events: list[Event], stream: TextIO, blind: bool) -> None:
    """Events one line each, in time order (faults hidden when blind)."""
    for event in sorted(events, key=lambda e: e.at_s):
        if blind and event.reveals_fault:
            continue
        stream.write(
            f"{clock_label(event.at_s)}.{_tenths(event.at_s)} {event.actor.value:<8} {event.text}\n"
        )
    stream.flush()


def _tenths(seconds: float) -> str:
    return str(int(abs(seconds) * 10) % 10)


class TerminalOperator:
    """A person: the live screen redrawn as things change, a command line typed into it."""

    def __init__(
        self, clock: Clock, context: ScreenContext, blind: bool, fd: int | None = None
    ) -> None:
        self._clock = clock
        self._context = context
        self._blind = blind
        self._reader = KeyReader(sys.stdin.fileno() if fd is None else fd)
        self._editor = LineEditor()
        self._last_key = clock.now()
        self._drawn_at = 0.0
        self._dirty = True
        self._live: Live | None = None

    @contextlib.contextmanager
    def running(self, console: Console | None = None) -> Iterator[TerminalOperator]:
        """The terminal in cbreak mode and the live screen (alternate screen) within the block."""
        live = Live(console=console or Console(), screen=True, auto_refresh=False, transient=True)
        with self._reader.cbreak():
            try:
                live.start()
                self._live = live
                yield self
            finally:
                self._live = None
                with contextlib.suppress(OSError):
                    live.stop()

    def commands(self, state: RehearsalState, now: float, faults_all_in: bool) -> list[Command]:
        """What was typed within a tick, as commands; a bad line leaves its error on the screen."""
        typed = self._reader.read(TICK_S)
        if not typed:
            return []
        self._last_key = self._clock.now()
        self._dirty = True
        out: list[Command] = []
        for line in self._editor.feed(typed):
            try:
                out.append(parse_command(line, len(state.steps), state.next_step))
            except CommandError as exc:
                state.message = str(exc)
        return out

    def show(self, state: RehearsalState, now: float, consumer_pin: str) -> None:
        """Redraw the screen (at most every REDRAW_S unless a key was pressed)."""
        if self._live is None or (not self._dirty and now - self._drawn_at < REDRAW_S):
            return
        context = ScreenContext(
            scenario_label=self._context.scenario_label,
            fault_label=self._context.fault_label,
            consumer_pin=consumer_pin,
            typing=self._editor.buffer,
        )
        with contextlib.suppress(OSError):  # the terminal is gone: SIGHUP ends the rehearsal
            self._live.update(render(state, state.rel(now), context, self._blind), refresh=True)
        self._drawn_at, self._dirty = now, False

    def idle_since(self) -> float | None:
        """When the last key was pressed."""
        return self._last_key
