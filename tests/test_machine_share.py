"""The suite's machine share: an exclusive holder waits for the shared ones and keeps new ones out."""

from __future__ import annotations

import threading
import time

from tests.machine_share import machine_share


def test_an_exclusive_test_runs_alone_between_shared_ones() -> None:
    run_id = f"unit-{time.monotonic_ns()}"
    events: list[str] = []
    first_in, heavy_waiting = threading.Event(), threading.Event()

    def light(name: str, hold_s: float, started: threading.Event | None = None) -> None:
        with machine_share(exclusive=False, run_id=run_id):
            events.append(f"{name} in")
            if started is not None:
                started.set()
            time.sleep(hold_s)
            events.append(f"{name} out")

    def heavy() -> None:
        heavy_waiting.set()
        with machine_share(exclusive=True, run_id=run_id):
            events.append("heavy in")
            time.sleep(0.2)
            events.append("heavy out")

    first = threading.Thread(target=light, args=("first", 0.3, first_in))
    first.start()
    assert first_in.wait(5)
    alone = threading.Thread(target=heavy)
    alone.start()
    assert heavy_waiting.wait(5)
    time.sleep(0.1)  # the heavy one now waits for `first`, holding the turnstile
    later = threading.Thread(target=light, args=("later", 0.0))
    later.start()
    for thread in (first, alone, later):
        thread.join(10)
    assert events == ["first in", "first out", "heavy in", "heavy out", "later in", "later out"]


def test_without_xdist_there_is_no_lock() -> None:
    with machine_share(exclusive=True, run_id=""), machine_share(exclusive=True, run_id=""):
        pass  # nested exclusive holds would deadlock if a lock were taken
