"""Injected monotonic time: the engine asks a Clock, tests hand it a fake one."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and sleeping; wall-clock UTC only for reports."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def utc_iso(self) -> str: ...


class SystemClock:
    """The real clock. `sleep` wakes early when `wake()` is called (used on SIGINT/SIGTERM)."""

    def __init__(self) -> None:
        self._wake = threading.Event()

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)

    def wake(self) -> None:
        """Interrupt every current and future sleep."""
        self._wake.set()

    def utc_iso(self) -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeClock:
    """A clock that only moves when slept on or advanced: for unit tests of waits and deadlines."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._now += seconds

    def utc_iso(self) -> str:
        return "2026-01-01T00:00:00.000Z"


def wait_until(
    clock: Clock,
    condition: object,
    *,
    timeout_s: float,
    interval_s: float = 0.02,
    what: str,
) -> bool:
    """Poll `condition()` until true or `timeout_s` passes; returns whether it became true.

    `what` names the thing waited for, for the caller's error message.
    """
    assert callable(condition), what
    deadline = clock.now() + timeout_s
    while True:
        if condition():
            return True
        if clock.now() >= deadline:
            return False
        clock.sleep(min(interval_s, max(deadline - clock.now(), 0.0)))
