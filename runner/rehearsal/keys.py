"""Keys from the terminal into command lines: a small line editor, and the terminal put in cbreak mode.

Cbreak keeps the terminal's signals (Ctrl-C is still SIGINT, so cleanup runs) while each key
arrives at once, so the live screen can show what is being typed without the terminal echoing it
over the screen.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import tty
from collections.abc import Iterator
from typing import Any

MAX_LINE = 300
_ERASE = ("\x7f", "\b")
_ENTER = ("\r", "\n")
_KILL_LINE = "\x15"  # Ctrl-U


class LineEditor:
    """Collects typed characters; Enter completes a line, Backspace and Ctrl-U edit it."""

    def __init__(self) -> None:
        self.buffer = ""
        self._escape = ""

    def feed(self, text: str) -> list[str]:
        """Add typed characters; return the lines completed by them."""
        lines: list[str] = []
        for char in text:
            if self._escape:
                self._escape += char
                # An escape sequence (arrow keys...) ends with a letter or ~; it is not text.
                if (len(self._escape) > 2 and (char.isalpha() or char == "~")) or len(
                    self._escape
                ) > 8:
                    self._escape = ""
                continue
            if char == "\x1b":
                self._escape = char
            elif char in _ENTER:
                if self.buffer.strip():
                    lines.append(self.buffer)
                self.buffer = ""
            elif char in _ERASE:
                self.buffer = self.buffer[:-1]
            elif char == _KILL_LINE:
                self.buffer = ""
            elif char.isprintable() and len(self.buffer) < MAX_LINE:
                self.buffer += char
        return lines


class KeyReader:
    """Reads what is typed on a terminal without blocking (`read(timeout)`), in cbreak mode."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._saved: list[Any] | None = None

    @contextlib.contextmanager
    def cbreak(self) -> Iterator[KeyReader]:
        """Cbreak mode, no echo, within the block; the terminal's settings restored after."""
        saved = self._saved = termios.tcgetattr(self._fd)
        try:
            tty.setcbreak(self._fd)
            yield self
        finally:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)

    def read(self, timeout_s: float) -> str:
        """What was typed within `timeout_s` ('' if nothing); '' too once the terminal is gone."""
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout_s)
            if not ready:
                return ""
            data = os.read(self._fd, 1024)
        except OSError:
            return ""
        return data.decode("utf-8", "replace")
