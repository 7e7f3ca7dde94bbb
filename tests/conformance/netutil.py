"""Loopback TCP helpers for the conformance tests: threaded upstreams and a bounded client."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

IO_TIMEOUT_S = 5.0

Handler = Callable[[socket.socket], None]


class TcpServer:
    """A loopback server running `handler` on a thread per connection; close() stops all of it."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _peer = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    connection.close()
                    return
                connection.settimeout(IO_TIMEOUT_S)
                self._connections.add(connection)
                thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            self._handler(connection)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def close(self) -> None:
        """Stop accepting, drop open connections, wait for the threads."""
        with self._lock:
            self._closed = True
            connections = list(self._connections)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        self._listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(IO_TIMEOUT_S)
        for thread in self._threads:
            thread.join(IO_TIMEOUT_S)


class Recorder(TcpServer):
    """An echo server that also keeps every byte it received, per connection, in arrival order."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        super().__init__(self._record)

    def _record(self, connection: socket.socket) -> None:
        index = len(self.received)
        self.received.append(b"")
        while data := connection.recv(65536):
            self.received[index] += data
            connection.sendall(data)


class StalledListener:
    """A listener whose accept queue is full and never served: the kernel drops new SYNs, so a
    connect to it hangs in SYN-SENT (as to a frozen service whose listen queue has filled)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)  # room for one queued connection, which the filler takes
        self.port = int(self._listener.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT_S)
        self.accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None

    def serve(self) -> None:
        """Start accepting: the queue drains and later SYNs (or their retries) are answered."""
        self._listener.settimeout(0.05)
        self._acceptor = threading.Thread(target=self._accept_all, daemon=True)
        self._acceptor.start()

    def _accept_all(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        """Stop accepting, then close the listener, the filler and everything accepted (a
        connection accepted while closing is closed too, never left to the collector)."""
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(IO_TIMEOUT_S)
        for sock in (self._listener, self._filler, *self.accepted):
            sock.close()


def echo(connection: socket.socket) -> None:
    """Send back whatever arrives until the peer closes."""
    while data := connection.recv(65536):
        connection.sendall(data)


def greeter(tag: bytes) -> Handler:
    """Say `tag` first, then echo."""

    def handle(connection: socket.socket) -> None:
        connection.sendall(tag)
        echo(connection)

    return handle


def say_and_close(connection: socket.socket) -> None:
    """Send b"bye" and close at once."""
    connection.sendall(b"bye")


def split_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 40000) from "127.0.0.1:40000"."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def connect(listen: str, timeout: float = IO_TIMEOUT_S) -> socket.socket:
    """A client connection to a proxy's listen address."""
    sock = socket.create_connection(split_listen(listen), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes, or ConnectionError if the stream ends first."""
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = sock.recv(remaining)
        if not part:
            raise ConnectionError(f"closed after {size - remaining} of {size} bytes")
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def recv_until_closed(sock: socket.socket, limit: int = 1 << 20) -> tuple[bytes, int]:
    """Everything until the peer closes (bounded by `limit` bytes): the bytes and how many reads."""
    parts: list[bytes] = []
    reads = 0
    total = 0
    while total <= limit:
        part = sock.recv(65536)
        if not part:
            break
        reads += 1
        total += len(part)
        parts.append(part)
    return b"".join(parts), reads


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds for `payload` to come back through an echo upstream."""
    started = time.monotonic()
    sock.sendall(payload)
    if recv_exactly(sock, len(payload)) != payload:
        raise AssertionError("the echo answered other bytes")
    return time.monotonic() - started
