"""The machine shared between pytest-xdist workers: a CPU-heavy test runs alone, the others side by side.

A readers-writer lock over two flock'd files in the temporary folder, named by the run's
PYTEST_XDIST_TESTRUNUID (no lock without xdist: one process runs one test at a time). Every test
passes a turnstile, then holds the main lock shared; a CPU-heavy test holds it exclusive, so it
starts once the tests in flight on other workers are done and none starts beside it. The turnstile
keeps a waiting heavy test from being overtaken by a stream of short ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

RUN_ID_VARIABLE = "PYTEST_XDIST_TESTRUNUID"
# The xdist_group of the CPU-heavy runs that have the machine to themselves.
ALONE_GROUP = "cpu-heavy-runs"


@contextlib.contextmanager
def machine_share(exclusive: bool, run_id: str | None = None) -> Iterator[None]:
    """Hold the machine alone (`exclusive`) or beside other tests, for as long as the block runs."""
    run_id = run_id if run_id is not None else os.environ.get(RUN_ID_VARIABLE, "")
    if not run_id:
        yield
        return
    folder = Path(tempfile.gettempdir())
    with (
        (folder / f"mkdrill-suite-{run_id}.turnstile").open("a") as turnstile,
        (folder / f"mkdrill-suite-{run_id}.lock").open("a") as main,
    ):
        fcntl.flock(turnstile.fileno(), fcntl.LOCK_EX)
        try:
            fcntl.flock(main.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile.fileno(), fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(main.fileno(), fcntl.LOCK_UN)
