"""A small keep-alive HTTP/1.1 client: one deadline per request, `abort()` from any thread.

    with ClientSession(timeout_s=2.5) as session:
        response = session.request("POST", "127.0.0.1", 4010, "/v1/query/ask",
                                   [("host", "127.0.0.1:4010"), ("content-type", ...)], body)
        payload = response.read_body()

The deadline covers the whole request, connecting to the last body byte, so a peer that drips
bytes cannot stretch it. A failure is a `ClientError` saying in which phase it happened
(`connect`, `send`, `head`, `body`) and whether the deadline ran out; callers map that onto
their own error model. A pooled connection the peer has closed is not reused (hyper's rule).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

from runner.http11.server import readable_now
from runner.http11.wire import MAX_HEAD_BYTES, Headers, head_end, parse_chunk_size

_RECV_BYTES = 65536
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: (.*))?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ClientError(Exception):
    """A failed request: the phase (`connect`, `send`, `head`, `body`), timeout, cause."""

    def __init__(self, phase: str, cause: str, *, timed_out: bool = False) -> None:
        super().__init__(f"{phase}: {cause}")
        self.phase = phase
        self.cause = cause
        self.timed_out = timed_out


class _Timeout(Exception):
    pass


class _Broken(Exception):
    pass


class _Connection:
    __slots__ = ("buffer", "key", "sock")

    def __init__(self, sock: socket.socket, key: tuple[str, int]) -> None:
        self.sock = sock
        self.key = key
        self.buffer = bytearray()


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Timeout
    return left


def _recv(conn: _Connection, deadline: float | None) -> bytes:
    conn.sock.settimeout(_remaining(deadline))
    try:
        return conn.sock.recv(_RECV_BYTES)
    except TimeoutError as exc:
        raise _Timeout from exc
    except OSError as exc:
        raise _Broken(str(exc)) from exc


class ClientResponse:
    """A response whose head has been read; the body is read by `read_body()`."""

    def __init__(
        self,
        session: ClientSession,
        conn: _Connection,
        method: str,
        status: int,
        headers: Headers,
        http10: bool,
        deadline: float | None,
    ) -> None:
        self._session = session
        self._conn: _Connection | None = conn
        self.method = method
        self.status = status
        self.headers = headers
        self._http10 = http10
        self._deadline = deadline

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively."""
        return self.headers.get(name)

    def _keep_alive(self) -> bool:
        tokens = self.headers.tokens("connection")
        return "keep-alive" in tokens if self._http10 else "close" not in tokens

    def read_body(self) -> bytes:
        """The whole body within the request's deadline; ClientError(`body`) on failure."""
        conn = self._conn
        if conn is None:
            raise ClientError("body", "body already consumed")
        self._conn = None
        try:
            body, reusable = self._read_framed(conn)
        except _Timeout as exc:
            self._session._discard(conn)
            raise ClientError("body", "timed out", timed_out=True) from exc
        except (_Broken, ValueError) as exc:
            self._session._discard(conn)
            raise ClientError("body", str(exc)) from exc
        if reusable and self._keep_alive():
            self._session._release(conn)
        else:
            self._session._discard(conn)
        return body

    def close(self) -> None:
        """Drop the response without reading its body (the connection is not reused)."""
        if self._conn is not None:
            self._session._discard(self._conn)
            self._conn = None

    def _read_framed(self, conn: _Connection) -> tuple[bytes, bool]:
        if self.method == "HEAD" or self.status in (204, 304):
            return b"", True
        encodings = [
            t.strip().lower()
            for v in self.headers.get_all("transfer-encoding")
            for t in v.split(",")
        ]
        if encodings and encodings[-1] == "chunked":
            return self._read_chunked(conn), True
        lengths = {v.strip() for v in self.headers.get_all("content-length")}
        if lengths:
            if len(lengths) != 1 or not next(iter(lengths)).isdigit():
                raise ValueError(f"invalid content-length {sorted(lengths)}")
            return self._read_exact(conn, int(next(iter(lengths)))), True
        return self._read_to_eof(conn), False

    def _read_exact(self, conn: _Connection, size: int) -> bytes:
        while len(conn.buffer) < size:
            data = _recv(conn, self._deadline)
            if not data:
                raise _Broken(f"connection closed after {len(conn.buffer)} of {size} body bytes")
            conn.buffer += data
        body = bytes(conn.buffer[:size])
        del conn.buffer[:size]
        return body

    def _read_line(self, conn: _Connection) -> bytes:
        while True:
            end = conn.buffer.find(b"\n")
            if end >= 0:
                line = bytes(conn.buffer[:end]).rstrip(b"\r")
                del conn.buffer[: end + 1]
                return line
            if len(conn.buffer) > MAX_HEAD_BYTES:
                raise ValueError("chunk line too long")
            data = _recv(conn, self._deadline)
            if not data:
                raise _Broken("connection closed inside a chunked body")
            conn.buffer += data

    def _read_chunked(self, conn: _Connection) -> bytes:
        body = bytearray()
        while True:
            size = parse_chunk_size(self._read_line(conn))
            if size == 0:
                while self._read_line(conn):
                    pass  # trailers
                return bytes(body)
            body += self._read_exact(conn, size)
            if self._read_line(conn):
                raise ValueError("chunk data not followed by CRLF")

    def _read_to_eof(self, conn: _Connection) -> bytes:
        while True:
            data = _recv(conn, self._deadline)
            if not data:
                body = bytes(conn.buffer)
                conn.buffer.clear()
                return body
            conn.buffer += data


class ClientSession:
    """Keep-alive connections (one idle per host:port) and one timeout for every request.

    `timeout_s=None` means no timeout at all. `abort()` (from another thread) breaks every
    request in flight, so a server can stop while a session waits on a peer that never answers.
    """

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self._idle: dict[tuple[str, int], _Connection] = {}
        self._open: set[_Connection] = set()
        self._lock = threading.Lock()
        self._aborted = False

    def __enter__(self) -> ClientSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def deadline(self) -> float | None:
        """The deadline of a request starting now."""
        return None if self.timeout_s is None else time.monotonic() + self.timeout_s

    def request(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None = None,
        *,
        deadline: float | None = None,
    ) -> ClientResponse:
        """Send one request and read its response head (1xx answers skipped)."""
        if deadline is None:
            deadline = self.deadline()
        lines = [f"{method} {target} HTTP/1.1", *(f"{n}: {v}" for n, v in headers)]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        try:
            conn = self._checkout(host, port, deadline)
        except (_Timeout, TimeoutError) as exc:
            raise ClientError("connect", "timed out", timed_out=True) from exc
        except OSError as exc:
            raise ClientError("connect", str(exc)) from exc
        phase = "send"
        try:
            conn.sock.settimeout(_remaining(deadline))
            conn.sock.sendall(payload)
            phase = "head"
            status, response_headers, http10 = self._read_head(conn, deadline)
        except (_Timeout, TimeoutError) as exc:
            self._discard(conn)
            raise ClientError(phase, "timed out", timed_out=True) from exc
        except (_Broken, ValueError, OSError) as exc:
            self._discard(conn)
            raise ClientError(phase, str(exc)) from exc
        return ClientResponse(self, conn, method, status, response_headers, http10, deadline)

    def _checkout(self, host: str, port: int, deadline: float | None) -> _Connection:
        key = (host, port)
        with self._lock:
            if self._aborted:
                raise OSError("request aborted: the session is stopping")
            conn = self._idle.pop(key, None)
        if conn is not None:
            if not readable_now(conn.sock) and not conn.buffer:
                return conn
            self._discard(conn)
        sock = socket.create_connection((host, port), timeout=_remaining(deadline))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, key)
        with self._lock:
            self._open.add(conn)
            aborted = self._aborted
        if aborted:
            self._discard(conn)
            raise OSError("request aborted: the session is stopping")
        return conn

    @staticmethod
    def _read_head(conn: _Connection, deadline: float | None) -> tuple[int, Headers, bool]:
        while True:
            end = head_end(conn.buffer)
            while end < 0:
                if len(conn.buffer) > MAX_HEAD_BYTES:
                    raise ValueError("message head is too large")
                data = _recv(conn, deadline)
                if not data:
                    raise _Broken("connection closed before message completed")
                conn.buffer += data
                end = head_end(conn.buffer)
            head = bytes(conn.buffer[:end])
            del conn.buffer[:end]
            lines = head.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
            match = _STATUS_LINE.fullmatch(lines[0])
            if match is None:
                raise ValueError(f"invalid HTTP status line {lines[0][:60]!r}")
            status = int(match.group(2))
            fields: list[tuple[str, str]] = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not _TOKEN.fullmatch(name):
                    raise ValueError(f"invalid header line {line[:60]!r}")
                fields.append((name.decode("latin-1"), value.strip().decode("latin-1")))
            if 100 <= status < 200 and status != 101:
                continue  # informational responses precede the real one
            return status, Headers(fields), match.group(1) == b"0"

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            if not self._aborted and conn.key not in self._idle:
                self._idle[conn.key] = conn
                return
        self._discard(conn)

    def _discard(self, conn: _Connection) -> None:
        with self._lock:
            self._open.discard(conn)
            if self._idle.get(conn.key) is conn:
                del self._idle[conn.key]
        conn.sock.close()

    def abort(self) -> None:
        """Break every request in flight (safe from another thread); later requests fail fast."""
        with self._lock:
            self._aborted = True
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close every connection of this session."""
        with self._lock:
            conns = list(self._open)
            self._open.clear()
            self._idle.clear()
        for conn in conns:
            conn.sock.close()
