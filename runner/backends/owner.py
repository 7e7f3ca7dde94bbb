"""Who owns a run (pid, process start time, host) and whether that owner still lives."""

from __future__ import annotations

import os
import socket
from enum import StrEnum

from runner.backends.processes import pid_alive, process_start_time

LABEL_OWNER_PID = "io.mkdrill.owner-pid"
LABEL_OWNER_START = "io.mkdrill.owner-start"
LABEL_OWNER_HOST = "io.mkdrill.owner-host"


class OwnerState(StrEnum):
    """What is known of a run's owner."""

    ALIVE = "alive"  # its process runs on this host (same pid, same start time)
    GONE = "gone"  # no such process on this host any more (or never recorded)
    ELSEWHERE = "elsewhere"  # on another host: cannot be checked from here


def this_owner() -> dict[str, str]:
    """This process as the owner of what it creates: labels for Docker objects."""
    pid = os.getpid()
    return {
        LABEL_OWNER_PID: str(pid),
        LABEL_OWNER_START: process_start_time(pid),
        LABEL_OWNER_HOST: socket.gethostname(),
    }


def owner_state(labels: dict[str, str]) -> OwnerState:
    """Whether the owner named by `labels` (see this_owner) still lives."""
    host = labels.get(LABEL_OWNER_HOST, "")
    try:
        pid = int(labels.get(LABEL_OWNER_PID, "") or 0)
    except ValueError:
        pid = 0
    if pid <= 0:
        return OwnerState.GONE
    if host and host != socket.gethostname():
        return OwnerState.ELSEWHERE
    if not pid_alive(pid):
        return OwnerState.GONE
    start = labels.get(LABEL_OWNER_START, "")
    if start and process_start_time(pid) != start:
        return OwnerState.GONE  # the pid now belongs to another process
    return OwnerState.ALIVE
