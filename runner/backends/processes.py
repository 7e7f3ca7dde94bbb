"""Child processes of the local backend: start with a readiness deadline, stop, kill, freeze, sweep."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import DefinitionError, EnvironmentProblem

log = logging.getLogger(__name__)

OWNER_PID_VAR = "MKDRILL_OWNER_PID"
OWNER_POLL_S = 0.5
READY_LINE = re.compile(rb"listening on (http://\S+)")
EXIT_BAD_INPUT = 2


@dataclass
class ManagedProcess:
    """One service process started by mkdrill, with the URL it announced once ready."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Send a signal if the process still runs."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL after `grace_s`. Idempotent."""
        if not self.running():
            self._reap()
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL and reap. Idempotent."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5.0)
        self._reap()

    def _reap(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_service(
    name: str,
    args: list[str],
    log_path: Path,
    *,
    ready_timeout_s: float = 10.0,
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start `python -m runner serve ...` (or any argv) and wait for its `listening on URL` line.

    `env` is added to this process's environment for the child only.
    """
    argv = (
        [sys.executable, "-m", "runner", "serve", *args]
        if args and not args[0].startswith("/")
        else args
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # our own cleanup decides when it ends, not the terminal's ^C
            env={**os.environ, **env} if env is not None else None,
        )
    except OSError as exc:
        raise EnvironmentProblem(f"cannot start {name} ({argv[0]}): {exc}") from exc
    finally:
        log_file.close()
    url = _read_ready_line(name, process, log_path, ready_timeout_s)
    return ManagedProcess(name, argv, process, url, log_path)


def start_answering(
    name: str,
    argv: list[str],
    log_path: Path,
    url: str,
    *,
    ready_path: str = "/v1/health",
    ready_timeout_s: float = 10.0,
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start a service that prints nothing (MemoryKernel) and wait until `url + ready_path` answers 200.

    A process that exits first, or never answers, is an EnvironmentProblem naming it, its exit
    code and its last log lines; one that never answers is killed.
    """
    import httpx

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        try:
            process = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=log_file,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **env} if env is not None else None,
            )
        except OSError as exc:
            raise EnvironmentProblem(f"cannot start {name} ({argv[0]}): {exc}") from exc
    managed = ManagedProcess(name, argv, process, url, log_path)
    deadline = time.monotonic() + ready_timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=0.5) as client:
        while True:
            code = process.poll()
            if code is not None:
                raise EnvironmentProblem(
                    f"{name} ({argv[0]}, pid {process.pid}) exited with code {code} before "
                    f"answering {url}{ready_path}; last log lines: {log_tail(log_path)}"
                )
            try:
                response = client.get(url + ready_path)
                if response.status_code == 200:
                    return managed
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                managed.kill()
                raise EnvironmentProblem(
                    f"{name} ({argv[0]}, pid {process.pid}) did not answer {url}{ready_path} "
                    f"within {ready_timeout_s:.0f} s (last: {last}); it may ignore --bind; "
                    f"last log lines: {log_tail(log_path)}"
                )
            time.sleep(0.02)


def log_tail(path: Path, lines: int = 5) -> str:
    """The last non-empty lines of a log, joined with ` | ` (or "no output")."""
    with contextlib.suppress(OSError):
        kept = [line.strip() for line in path.read_text(errors="replace").splitlines()]
        kept = [line for line in kept if line]
        if kept:
            return " | ".join(kept[-lines:])
    return "no output"


def _read_ready_line(
    name: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float
) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            match = READY_LINE.search(buffer)
            if match:
                return match.group(1).decode()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if selector.select(timeout=remaining):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
    code = process.poll()
    if code is None:
        process.kill()
        process.wait()
    reason = _last_log_line(log_path) or "no output"
    if code == EXIT_BAD_INPUT:
        raise DefinitionError(f"{name}: {reason}")
    how = (
        f"exited with code {code}" if code is not None else f"was not ready after {timeout_s:.0f} s"
    )
    raise EnvironmentProblem(f"{name} {how}: {reason} (log: {log_path})")


def _last_log_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [
            line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()
        ]
        if lines:
            return lines[-1].removeprefix("mkdrill: ")
    return ""


def watch_owner() -> None:
    """In a service: if MKDRILL_OWNER_PID names a runner, stop (SIGTERM to self) once it is gone."""
    owner = os.environ.get(OWNER_PID_VAR, "")
    if not owner.isdigit():
        return
    owner_pid = int(owner)

    def watch() -> None:
        while pid_alive(owner_pid) and os.getppid() == owner_pid:
            time.sleep(OWNER_POLL_S)
        log.info("owner %s is gone; stopping", owner_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


# State files let `mkdrill env reset` (or the next run) sweep what a killed runner left behind.


def write_state(
    path: Path, owner_pid: int, processes: list[ManagedProcess], extra: dict[str, str]
) -> None:
    """Atomically record the processes of one environment."""
    data = {
        "owner_pid": owner_pid,
        "processes": [
            {"name": p.name, "pid": p.pid, "start_time": process_start_time(p.pid)}
            for p in processes
        ],
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def process_start_time(pid: int) -> str:
    """The kernel's start time of `pid` (guards against killing a reused pid); '' if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return ""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def sweep_state(path: Path) -> list[str]:
    """Kill the processes a state file names (if they are still the same processes); remove the file."""
    removed: list[str] = []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return removed
    killed: list[int] = []
    for entry in data.get("processes", []):
        pid = int(entry.get("pid", 0))
        if pid <= 0 or not pid_alive(pid):
            continue
        if entry.get("start_time") and process_start_time(pid) != entry["start_time"]:
            continue  # the pid was reused by someone else's process
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        removed.append(f"process {entry.get('name')} (pid {pid})")
    wait_gone(killed)
    path.unlink(missing_ok=True)
    return removed


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> None:
    """Return once none of `pids` is alive (a SIGKILL is not instant on a busy machine), or at the timeout."""
    deadline = time.monotonic() + timeout_s
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
