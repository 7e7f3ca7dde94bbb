"""TCP socket states from /proc/<pid>/net/tcp{,6}: a listener's queue and connections to a port.

The evidence behind "the proxy is jammed": how many connections wait in a listen queue, and how
many of the proxy's dials to its upstream hang in SYN-SENT. Linux only; elsewhere, or without
permission to read another process's network namespace, the summary says it is unavailable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# The `st` column of /proc/net/tcp (include/net/tcp_states.h).
STATES = {
    "01": "ESTABLISHED",
    "02": "SYN-SENT",
    "03": "SYN-RECV",
    "04": "FIN-WAIT-1",
    "05": "FIN-WAIT-2",
    "06": "TIME-WAIT",
    "07": "CLOSE",
    "08": "CLOSE-WAIT",
    "09": "LAST-ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


@dataclass(frozen=True)
class TcpSocket:
    """One row of the table: ports, state, queues (for a listener, rx is its accept queue)."""

    local_port: int
    remote_port: int
    state: str
    tx_queue: int
    rx_queue: int


@dataclass(frozen=True)
class ListenerView:
    """What a listening port and the connections to an upstream port look like right now."""

    listen_queue: int | None  # connections accepted by the kernel, not yet by the program
    to_upstream: dict[str, int]  # state -> count, connections whose remote port is the upstream's

    def describe(self) -> str:
        """One line, e.g. "listen queue 4097, to upstream: SYN-SENT×1"."""
        queue = (
            "listener not found"
            if self.listen_queue is None
            else f"listen queue {self.listen_queue}"
        )
        states = ", ".join(f"{state}×{n}" for state, n in sorted(self.to_upstream.items()))
        return f"{queue}, to upstream: {states or 'none'}"


def parse_table(text: str) -> list[TcpSocket]:
    """Rows of a /proc/net/tcp or tcp6 file."""
    rows: list[TcpSocket] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
        tx, _, rx = queues.partition(":")
        rows.append(
            TcpSocket(
                local_port=int(local.rsplit(":", 1)[1], 16),
                remote_port=int(remote.rsplit(":", 1)[1], 16),
                state=STATES.get(state.upper(), state),
                tx_queue=int(tx, 16),
                rx_queue=int(rx, 16),
            )
        )
    return rows


def read_table(pid: int | None = None) -> list[TcpSocket]:
    """Every TCP socket of the network namespace of `pid` (None: this process's); OSError if unreadable."""
    base = Path(f"/proc/{pid}/net") if pid is not None else Path("/proc/self/net")
    rows: list[TcpSocket] = []
    for name in ("tcp", "tcp6"):
        path = base / name
        if path.exists():
            rows.extend(parse_table(path.read_text()))
    if not rows and not (base / "tcp").exists():
        raise OSError(f"{base}/tcp does not exist")
    return rows


def listener_view(rows: list[TcpSocket], listen_port: int, upstream_port: int) -> ListenerView:
    """The listener on `listen_port` and the connections from this namespace to `upstream_port`."""
    listener = next((r for r in rows if r.state == "LISTEN" and r.local_port == listen_port), None)
    states = Counter(
        r.state for r in rows if r.remote_port == upstream_port and r.state != "LISTEN"
    )
    return ListenerView(
        listen_queue=listener.rx_queue if listener else None,
        to_upstream=dict(states),
    )
