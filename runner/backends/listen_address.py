"""A fixed listen address for the MemoryKernel proxy: parsed, checked free, and who holds it if not.

The holder is found the way `ss -ltnp` finds it: the listening socket's inode in /proc/net/tcp*,
then the process whose file descriptors include that socket. Without /proc (or without the right
to read another user's descriptors) the message says the port is taken, without a name.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from runner.errors import DefinitionError, EnvironmentProblem

PROC = Path("/proc")
_LISTEN = "0A"


@dataclass(frozen=True)
class ListenAddress:
    """`host:port` a proxy listens on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listen(text: str, what: str = "--proxy-listen") -> ListenAddress:
    """`HOST:PORT` (IPv4 or [IPv6]) → ListenAddress; bad input is a one-line DefinitionError."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DefinitionError(f"{what}: expected HOST:PORT such as 127.0.0.1:4010 (got {text!r})")
    return ListenAddress(host, int(port))


def listen_from_base_url(base_url: str) -> ListenAddress:
    """The host:port of a pin's `default_base_url` (http://127.0.0.1:4010 → 127.0.0.1:4010)."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise DefinitionError(f"pin default_base_url {base_url!r}: no host")
    return ListenAddress(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def ensure_free(address: ListenAddress, what: str = "--proxy-listen") -> None:
    """Raise a one-line EnvironmentProblem (exit 3) naming the holder when `address` is taken."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The listeners set SO_REUSEADDR (Go does, and so do ours): a port whose last run left
        # connections in TIME_WAIT is free for them, and only a live listener holds it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address.host, address.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EnvironmentProblem(
                    f"{what} {address}: port already in use by {describe_holder(address.port)}; "
                    "stop it, or give --proxy-listen HOST:PORT and point your consumer there"
                ) from exc
            raise EnvironmentProblem(f"{what} {address}: cannot listen there: {exc}") from exc


def describe_holder(port: int, proc: Path = PROC) -> str:
    """`pid 123 (mks-v0.4.0)`, or `another process` when /proc does not tell."""
    inodes = listening_inodes(port, proc)
    for pid, name in _processes(proc):
        with contextlib.suppress(OSError):
            for fd in (proc / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = fd.readlink().as_posix()
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        return f"pid {pid} ({name})"
    return "another process (not visible from here)"


def listening_inodes(port: int, proc: Path = PROC) -> set[str]:
    """Socket inodes listening on `port`, from /proc/net/tcp and tcp6."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (proc / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[3] != _LISTEN:
                    continue
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port:
                    found.add(fields[9])
    return found


def _processes(proc: Path) -> list[tuple[int, str]]:
    rows = []
    with contextlib.suppress(OSError):
        for entry in proc.iterdir():
            if entry.name.isdigit():
                try:
                    name = (entry / "comm").read_text().strip()
                except OSError:
                    continue
                rows.append((int(entry.name), name))
    return sorted(rows)
