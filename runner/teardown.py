"""Process exit without Python's last garbage collection over everything the imports made.

At exit the interpreter collects every object still alive: a run's imports leave hundreds of
thousands (pydantic's schemas, httpx, the drill and report models), and walking them took
0.25-0.6 s on this busy two-core machine, after the reports were written. Frozen, they are left to
the operating system, which reclaims the whole process anyway. Only at interpreter exit: the other
atexit handlers and the flush of stdout and stderr still run, and a test calling an entry point in
its own process keeps its collector until that process ends.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def leave_objects_to_the_os() -> None:
    """At interpreter exit (ahead of the atexit handlers registered before), freeze every object."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
