"""A stoppable threaded HTTP/1.1 server for the reference consumer and the fault responder.

The stdlib ThreadingHTTPServer cannot stop while a keep-alive client holds a connection open or a
handler waits on a peer; this one tracks its connections and handler threads, shuts the
connections down on stop, and joins the threads with a bound.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from runner.errors import EnvironmentProblem

logger = logging.getLogger(__name__)

_STOP_JOIN_S = 5.0
_IDLE_CONNECTION_S = 300.0


class TrackingHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections and handler threads."""

    daemon_threads = True
    block_on_close = False  # stop() joins the handler threads itself, with a bound
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, app: Any
    ) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can take seconds without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{type(self.app).__name__}-conn",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self) -> list[threading.Thread]:
        """Shut down every open connection; return the handler threads to join."""
        with self._lock:
            items = list(self._connections.items())
        for sock, _ in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in items]


class _IPv6TrackingHTTPServer(TrackingHTTPServer):
    address_family = socket.AF_INET6


class JsonRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler base: one write per response, TCP_NODELAY, quiet logs."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = _IDLE_CONNECTION_S
    server: TrackingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def read_request_body(self) -> bytes:
        """The request body by Content-Length (clients here always send one)."""
        length = self.headers.get("Content-Length")
        if not length or not length.strip().isdigit():
            return b""
        return self.rfile.read(int(length))

    def send_raw(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        extra_headers: tuple[tuple[str, str], ...] = (),
        content_length: int | None = None,
    ) -> None:
        """Write status line, headers and body in one send (no Nagle/delayed-ACK stalls)."""
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        length = len(body) if content_length is None else content_length
        lines.append(f"Content-Length: {length}")
        lines.extend(f"{name}: {value}" for name, value in extra_headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)
        self.log_request(status, len(body))

    def send_json(self, status: int, payload: Any) -> None:
        """Answer with a compact JSON body."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_raw(status, body, "application/json")


class BackgroundServer:
    """Runs a TrackingHTTPServer on a thread; `start()`/`stop()` and a context manager."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        app: Any,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._name = name
        self._host = host
        self._requested_port = port
        self._handler = handler
        self._app = app
        self._on_stop = on_stop
        self._server: TrackingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        """`http://host:port` of the running server."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve; EnvironmentProblem when the address cannot be bound."""
        if self._server is not None:
            return
        server_class = _IPv6TrackingHTTPServer if ":" in self._host else TrackingHTTPServer
        try:
            server = server_class((self._host, self._requested_port), self._handler, app=self._app)
        except OSError as exc:
            where = f"{self._host}:{self._requested_port}"
            if exc.errno == errno.EADDRINUSE:
                raise EnvironmentProblem(
                    f"{self._name}: {where}: port already in use; "
                    "stop what holds it or use --port 0"
                ) from exc
            raise EnvironmentProblem(
                f"{self._name}: cannot bind {where}: {exc.strerror or exc}; use a loopback address"
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._name}-serve",
            daemon=True,
        )
        self._thread.start()
        logger.info("%s listening on %s", self._name, self.url)

    def stop(self) -> None:
        """Stop accepting, end handlers waiting on peers, close connections, join (bounded)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        if self._on_stop is not None:
            self._on_stop()
        server.shutdown()
        handlers = server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(_STOP_JOIN_S)
        deadline = time.monotonic() + _STOP_JOIN_S
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))
        stuck = [h for h in handlers if h.is_alive()]
        if stuck:
            logger.warning(
                "%s: %d connection handlers still running after stop", self._name, len(stuck)
            )

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An Event set by SIGTERM or SIGINT inside the block; the old handlers come back after."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for(stop: threading.Event) -> None:
    """Block the main thread until the event is set (a signal handler sets it)."""
    while not stop.wait(1.0):
        pass
