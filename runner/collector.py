"""What the garbage collector is spared: the objects a command's imports make, which live as long
as the process.

A run imports hundreds of thousands of objects (pydantic's schemas, httpx, the drill and report
models). Collected while they are being made, they are walked again and again for nothing (a
generation-0 pass every 700 allocations, promoted ones walked anew); frozen once made, the run's
own collections skip them. At exit the interpreter would collect every object still alive: that
walk took 0.25-0.6 s on this busy two-core machine, after the reports were written. Frozen, they
are left to the operating system, which reclaims the whole process anyway. The other atexit
handlers and the flush of stdout and stderr still run; a test calling an entry point in its own
process keeps its collector until that process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from collections.abc import Iterator

_registered = False


@contextlib.contextmanager
def imports_uncollected() -> Iterator[None]:
    """No collection while the block imports; what it made is frozen after (collector state kept)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def leave_objects_to_the_os() -> None:
    """At interpreter exit (ahead of the atexit handlers registered before), freeze every object."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
