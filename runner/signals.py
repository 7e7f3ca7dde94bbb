"""SIGINT/SIGTERM (and SIGHUP, when asked) become an `Interrupted` exception so cleanup runs; a second signal exits 130 at once."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType

from runner.errors import Interrupted


@contextlib.contextmanager
def interrupts_raise(
    run_id: str,
    on_first: Callable[[], None] = lambda: None,
    also: tuple[signal.Signals, ...] = (),
) -> Iterator[None]:
    """Within the block, the first SIGINT/SIGTERM raises Interrupted; the second exits 130 and names the run.

    `also` adds signals treated the same way (SIGHUP: the terminal of a rehearsal was closed).
    """
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            sys.stderr.write(
                f"mkdrill: second signal, exiting now; sweep leftovers with `mkdrill env reset` (run {run_id})\n"
            )
            sys.stderr.flush()
            os._exit(130)
        on_first()
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}; cleaning up run {run_id}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, *also)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
