"""A threaded HTTP/1.1 server: one thread per connection, handlers as plain functions.

    BackgroundServer(name, host, port, handler, ...)   start()/stop(), `with`, `.url`, `.port`
    handler(request, exchange) -> Response | None      None: the handler answered (or held the
                                                       request) through `exchange` itself

Connection handling follows hyper's: keep-alive by default (HTTP/1.0 only on `keep-alive`),
an unparsable request gets 400 with an empty body and `connection: close`, `Expect:
100-continue` is answered before the body is read, a body over `body_limit` is left unread
(`Request.body is None`) and drained after the answer so the connection stays usable, and a
body that cannot be read is reported to the handler (`Request.body_error`) before the
connection closes. `WorkerSlots` makes handlers share N worker threads the way a tokio runtime's
blocking handlers do. `stop()` shuts every connection down and joins the threads with a bound.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import signal
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from runner.errors import EnvironmentProblem
from runner.http11.wire import (
    HTTP2_PREFACE,
    MAX_HEAD_BYTES,
    BadRequest,
    Headers,
    RequestHead,
    bad_request_response,
    head_end,
    parse_chunk_size,
    parse_request_head,
    response_head,
)

logger = logging.getLogger(__name__)

_RECV_BYTES = 65536
_STOP_JOIN_S = 5.0
_MAX_DRAIN_BYTES = 16 * 1024 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
BODY_READ_ERROR = "error reading a body from connection"


@dataclass(frozen=True)
class Request:
    """One request. `body` is None when it exceeded the server's body limit and was not read;
    `body_error` says why a body could not be read (the connection closes after the answer)."""

    head: RequestHead
    body: bytes | None
    body_error: str | None = None

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def path(self) -> str:
        return self.head.path

    @property
    def target(self) -> str:
        return self.head.target

    @property
    def headers(self) -> Headers:
        return self.head.headers

    @property
    def content_type(self) -> str | None:
        return self.head.headers.get("content-type")


@dataclass(frozen=True)
class Response:
    """An answer. `content_length` overrides the declared length (a truncated body); `close`
    ends the connection after it, with `connection: close`."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_length: int | None = None
    close: bool = False

    @classmethod
    def of(
        cls,
        status: int,
        body: bytes,
        content_type: str | None,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        content_length: int | None = None,
        close: bool = False,
    ) -> Response:
        """A response with a content type first (none when `content_type` is empty or None)."""
        typed = (("content-type", content_type),) if content_type else ()
        return cls(status, body, typed + headers, content_length, close)


def json_response(status: int, payload: Any, *, close: bool = False) -> Response:
    """A compact JSON answer (raw UTF-8, as serde_json writes it)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response.of(status, body, "application/json", close=close)


class Exchange:
    """A handler's hold on its connection beyond returning a Response."""

    def __init__(self, connection: _Connection, head: RequestHead) -> None:
        self._connection = connection
        self._head = head
        self.sent = False

    def send(self, response: Response) -> None:
        """Write the response now (the handler may then hold the connection and return None)."""
        self._connection.write_response(self._head, response)
        self.sent = True

    @property
    def socket(self) -> socket.socket:
        """The connection's socket, for a handler that writes a body at its own pace."""
        return self._connection.sock

    def peer_closed(self) -> bool:
        """True when the client has closed its side (or sent more bytes)."""
        sock = self._connection.sock
        if not readable_now(sock):
            return False
        try:
            return not sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def hold(self, release: threading.Event, poll_s: float = 0.1) -> None:
        """Answer nothing until `release` is set or the client gives up."""
        while not release.wait(poll_s):
            if self.peer_closed():
                return


Handler = Callable[[Request, Exchange], "Response | None"]


def readable_now(sock: socket.socket) -> bool:
    """True when the socket has data or EOF waiting (poll, not select: fds may exceed 1024)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class WorkerSlots:
    """N workers shared by every handler, as tokio's worker threads are by blocking handlers.

    When every slot is taken, later requests wait like connections in a listen backlog: the
    next freed slot goes to the newest of them (tokio's LIFO slot for the task spawned last),
    the rest queue behind it in arrival order.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._free = count
        self._lock = threading.Lock()
        self._backlog: list[threading.Event] = []
        self._queue: deque[threading.Event] = deque()

    @classmethod
    def per_cpu(cls) -> WorkerSlots:
        """One slot per CPU this process may run on (tokio's default worker count)."""
        return cls(max(1, len(os.sched_getaffinity(0))))

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block."""
        with self._lock:
            if self._free > 0 and not self._queue and not self._backlog:
                self._free -= 1
                granted = None
            else:
                granted = threading.Event()
                self._backlog.append(granted)
        if granted is not None:
            granted.wait()
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            if self._backlog:
                nxt = self._backlog.pop()
                self._queue.extend(self._backlog)
                self._backlog.clear()
            elif self._queue:
                nxt = self._queue.popleft()
            else:
                self._free += 1
                return
        nxt.set()


@dataclass
class ServerOptions:
    """How a server treats connections (defaults: hyper's, with no body limit)."""

    body_limit: int | None = None
    slots: WorkerSlots | None = None
    idle_timeout_s: float | None = None
    backlog: int = 1024  # tokio's listen backlog: bursts are queued, not reset
    name: str = "http"


class _Connection:
    """One accepted socket: buffered reads, one write per response."""

    def __init__(self, sock: socket.socket, options: ServerOptions) -> None:
        self.sock = sock
        self.options = options
        self.buffer = bytearray()

    def recv(self) -> bytes:
        data = self.sock.recv(_RECV_BYTES)
        return data

    def read_head(self) -> bytes | None:
        """The next request head, None on EOF before any byte; BadRequest when too large."""
        while True:
            end = head_end(self.buffer)
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[:end]
                return head
            if self.buffer.startswith(HTTP2_PREFACE):
                return bytes(self.buffer)
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise BadRequest("request head too large", 431)
            data = self.recv()
            if not data:
                if self.buffer.strip():
                    raise BadRequest("connection closed inside a request head")
                return None
            self.buffer += data

    def read_exact(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            data = self.recv()
            if not data:
                return None
            self.buffer += data
        chunk = bytes(self.buffer[:size])
        del self.buffer[:size]
        return chunk

    def read_line(self) -> bytes | None:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end]).rstrip(b"\r")
                del self.buffer[: end + 1]
                return line
            if len(self.buffer) > MAX_HEAD_BYTES:
                return None
            data = self.recv()
            if not data:
                return None
            self.buffer += data

    def read_chunked(self, limit: int | None) -> tuple[bytes | None, str | None]:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.read_line()
            if line is None:
                return None, BODY_READ_ERROR
            try:
                size = parse_chunk_size(line)
            except ValueError:
                return None, BODY_READ_ERROR
            if size == 0:
                while True:
                    trailer = self.read_line()
                    if trailer is None:
                        return None, BODY_READ_ERROR
                    if not trailer:
                        return b"".join(parts), None
            total += size
            if limit is not None and total > limit:
                return None, None
            data = self.read_exact(size)
            if data is None or self.read_line() != b"":
                return None, BODY_READ_ERROR
            parts.append(data)

    def discard(self, size: int) -> bool:
        """Read and drop `size` body bytes; False when the peer closed first."""
        taken = min(size, len(self.buffer))
        del self.buffer[:taken]
        size -= taken
        while size > 0:
            data = self.recv()
            if not data:
                return False
            if len(data) > size:
                self.buffer += data[size:]
            size -= min(size, len(data))
        return True

    def write_response(self, head: RequestHead, response: Response) -> None:
        connection = None
        if response.close or (
            head.version == "HTTP/1.1" and "close" in head.headers.tokens("connection")
        ):
            connection = "close"
        elif head.version == "HTTP/1.0" and head.wants_keep_alive():
            connection = "keep-alive"
        length = len(response.body) if response.content_length is None else response.content_length
        data = response_head(
            head.version,
            response.status,
            response.headers,
            content_length=length,
            connection=connection,
        )
        if head.method != "HEAD":
            data += response.body
        # Head and body in one write: two small writes meet Nagle + delayed ACK (~40 ms stalls).
        self.sock.sendall(data)


def serve_connection(sock: socket.socket, handler: Handler, options: ServerOptions) -> None:
    """Answer requests on one connection until it closes or a request ends it."""
    connection = _Connection(sock, options)
    sock.settimeout(options.idle_timeout_s)
    while True:
        try:
            raw = connection.read_head()
            if raw is None or raw.startswith(HTTP2_PREFACE):
                return  # a clean close, or an HTTP/2 preface (HTTP/1 only, as axum::serve here)
            head = parse_request_head(raw)
            framing, length = head.body_framing()
        except BadRequest as exc:
            logger.debug("%s: bad request: %s", options.name, exc)
            with contextlib.suppress(OSError):
                sock.sendall(bad_request_response(exc.status))
            return
        request, unread, reusable = _read_body(connection, head, framing, length)
        exchange = Exchange(connection, head)
        if options.slots is None:
            response = handler(request, exchange)
        else:
            with options.slots.slot():
                response = handler(request, exchange)
        if response is None:
            return  # the handler answered (or held) through the exchange: the connection ends
        connection.write_response(head, response)
        if unread and not connection.discard(unread):
            return
        if response.close or not reusable or not head.wants_keep_alive():
            return


def _read_body(
    connection: _Connection, head: RequestHead, framing: str, length: int
) -> tuple[Request, int, bool]:
    """(request, body bytes left to drain, whether the connection can carry another request)."""
    limit = connection.options.body_limit
    expects = head.version == "HTTP/1.1" and "100-continue" in head.headers.tokens("expect")
    if framing == "none":
        return Request(head, b""), 0, True
    if framing == "length":
        if limit is not None and length > limit:
            # Refused unread; drained afterwards (unless the client still waits for a 100).
            drain = not expects and length <= _MAX_DRAIN_BYTES
            return Request(head, None), (length if drain else 0), drain
        if expects and length:
            connection.sock.sendall(_CONTINUE)
        body = connection.read_exact(length)
        if body is None:
            return Request(head, None, BODY_READ_ERROR), 0, False
        return Request(head, body), 0, True
    if expects:
        connection.sock.sendall(_CONTINUE)
    body, error = connection.read_chunked(limit)
    if error is not None:
        return Request(head, None, error), 0, False
    return Request(head, body), 0, body is not None


class Listener(socketserver.ThreadingTCPServer):
    """Accepts connections and tracks them with their threads so `stop()` can end them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], family: int, handler: Handler, options: ServerOptions
    ) -> None:
        self.address_family = family
        self.request_queue_size = options.backlog
        self.handler = handler
        self.options = options
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, socketserver.BaseRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self.options.name}-conn",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            serve_connection(request, self.handler, self.options)
        except (OSError, TimeoutError):
            logger.debug("%s: connection from %s ended", self.options.name, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.warning(
            "%s: connection from %s failed", self.options.name, client_address, exc_info=True
        )

    def close_connections(self) -> list[threading.Thread]:
        """Shut every open connection down; return their threads to join."""
        with self._lock:
            items = list(self._connections.items())
        for sock, _ in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in items]


@dataclass
class BackgroundServer:
    """A handler served on a thread: `start()`/`stop()` and a context manager."""

    name: str
    host: str
    port_wanted: int
    handler: Handler
    options: ServerOptions = field(default_factory=ServerOptions)
    on_stop: Callable[[], None] | None = None
    _listener: Listener | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _bound_port: int | None = field(default=None, init=False, repr=False)

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); kept after `stop()`."""
        if self._bound_port is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        """`http://host:port` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve; EnvironmentProblem when the address cannot be bound."""
        if self._listener is not None:
            return
        self.options.name = self.name
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = Listener((self.host, self.port_wanted), family, self.handler, self.options)
        except OSError as exc:
            raise EnvironmentProblem(
                bind_failure(self.name, self.host, self.port_wanted, exc)
            ) from exc
        self._listener = listener
        self._bound_port = int(listener.server_address[1])
        self._thread = threading.Thread(
            target=listener.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-serve",
            daemon=True,
        )
        self._thread.start()
        logger.info("%s listening on %s", self.name, self.url)

    def stop(self) -> None:
        """Stop accepting, end held handlers, close connections, join (bounded). Idempotent."""
        listener, thread = self._listener, self._thread
        if listener is None:
            return
        self._listener = self._thread = None
        if self.on_stop is not None:
            self.on_stop()
        listener.shutdown()
        handlers = listener.close_connections()
        listener.server_close()
        if thread is not None:
            thread.join(_STOP_JOIN_S)
        deadline = time.monotonic() + _STOP_JOIN_S
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))
        stuck = [h for h in handlers if h.is_alive()]
        if stuck:
            logger.warning(
                "%s: %d connection threads still running after stop", self.name, len(stuck)
            )

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def bind_failure(name: str, host: str, port: int, exc: OSError) -> str:
    """One line for an address that cannot be bound, saying what to do."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{name}: {where}: port already in use; stop what holds it or pick another port"
    return f"{name}: cannot listen on {where}: {exc.strerror or exc}; use a loopback address"


class Startable(Protocol):
    """Anything with start() and stop(): a server of this module or a service built on one."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


def serve_until_signalled(server: Startable, ready_line: Callable[[], str] | None = None) -> None:
    """Start, print `ready_line()` (if given) on stdout, serve until SIGTERM/SIGINT, stop."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        try:
            if ready_line is not None:
                print(ready_line(), flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
