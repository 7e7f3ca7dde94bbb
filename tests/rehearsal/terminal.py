"""A real terminal for interactive rehearsals: a tmux server of the test's own, keys sent, the screen read."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

WIDTH, HEIGHT = 140, 50


def need_tmux() -> str:
    """tmux's path; without it the test skips, except in CI (`.ci/run` installs it) where it fails."""
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail("CI is set and tmux is needed (apt-get install tmux)")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    return found


class Terminal:
    """One tmux session on a private socket running one mkdrill command."""

    def __init__(self, tmux: str, socket: str, exit_file: Path) -> None:
        self._tmux, self._socket, self.exit_file = tmux, socket, exit_file

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [self._tmux, "-L", self._socket, *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def screen(self) -> str:
        """The visible screen, as text."""
        return self._run("capture-pane", "-p", "-t", "rehearsal")

    def type(self, line: str) -> None:
        """Type `line` and press Enter."""
        self._run("send-keys", "-t", "rehearsal", "-l", line)
        self._run("send-keys", "-t", "rehearsal", "Enter")

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        """Wait until `text` is on the screen; the screen then."""
        deadline = time.monotonic() + timeout_s
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on the screen after {timeout_s:g} s:\n{screen}")

    def exit_code(self, timeout_s: float = 60.0) -> int:
        """Wait for the command to end; its exit code."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"mkdrill still running after {timeout_s:g} s:\n{self.screen()}")

    def close(self) -> None:
        """Close the terminal: its session ends (the command gets SIGHUP)."""
        self._run("kill-server")


@contextmanager
def terminal(cwd: Path, *mkdrill_args: str) -> Iterator[Terminal]:
    """`python -m runner <args>` in a fresh terminal (fast consumer profile); closed afterwards."""
    tmux = need_tmux()
    exit_file = cwd / "exit-code"
    command = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "runner", *mkdrill_args))
    script = (
        f"cd {shlex.quote(str(cwd))} && unset COLUMNS LINES && MKDRILL_CONSUMER_TIMEOUT_MS=500 {command}; "
        f"echo $? > {shlex.quote(str(exit_file))}; sleep 120"
    )
    socket = f"mkdrill-test-{secrets.token_hex(4)}"
    subprocess.run(
        [tmux, "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "rehearsal",
         "-x", str(WIDTH), "-y", str(HEIGHT), "sh", "-c", script],
        check=True, timeout=10,
    )  # fmt: skip
    term = Terminal(tmux, socket, exit_file)
    try:
        yield term
    finally:
        term.close()
