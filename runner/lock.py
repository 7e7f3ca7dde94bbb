"""One run at a time per environment: an flock'd file that names its holder; a dead holder's lock is taken over."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from runner.errors import EnvironmentProblem


@contextlib.contextmanager
def run_lock(path: Path, run_id: str) -> Iterator[str | None]:
    """Hold the lock for the whole run. Yields the run id of a stale holder that was taken over, if any.

    The kernel releases an flock when its holder dies, so a lock left by a killed run is simply free;
    the file still names that run, which the caller sweeps.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(path)
            raise EnvironmentProblem(
                f"another mkdrill run ({holder.get('run_id', '?')}, pid {holder.get('pid', '?')}) holds {path}; "
                "wait for it to finish, or run `mkdrill env reset` if it is gone"
            ) from None
        stale = _read_holder(path).get("run_id")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"run_id": run_id, "pid": os.getpid()}))
        handle.flush()
        try:
            yield str(stale) if stale and stale != run_id else None
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()


def _read_holder(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_holder(path: Path) -> str | None:
    """The run id holding the lock at `path` now, or None when nobody holds it (or no such lock)."""
    try:
        handle = path.open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return str(_read_holder(path).get("run_id") or "?")
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None
