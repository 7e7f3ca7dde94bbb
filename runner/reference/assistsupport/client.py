"""A small HTTP/1.1 client that behaves like the `reqwest::Client` AssistSupport builds per call.

What the adapter's outcomes depend on, and so what this copies:
- one total timeout per request, from connecting until the body is read (reqwest's
  `ClientBuilder::timeout`); a peer that drips bytes cannot stretch it;
- error classes (`is_timeout`, `is_connect`, request/body/decode/redirect) and their Display text
  ("error sending request for url (...)");
- up to 10 redirects followed (301/302/303 turn a POST into a GET);
- `text()` decodes with the Content-Type charset, lossily, and never fails on bad bytes;
- keep-alive within one client (one command call), a fresh client per call.

httpx is not used because its timeouts bound each read, not the request as a whole.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import select
import socket
import threading
import time
from enum import StrEnum
from urllib.parse import quote, urljoin, urlsplit

_MAX_HEAD_BYTES = 64 * 1024
_MAX_REDIRECTS = 10
_RECV_BYTES = 65536
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: (.*))?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# WHATWG labels (what encoding_rs understands) whose Python codec name differs.
_WHATWG_ALIASES = {
    "latin1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "utf-16": "utf-16-le",
    "unicode": "utf-16-le",
}


class ErrorKind(StrEnum):
    """reqwest's error kinds that the adapter can meet."""

    BUILDER = "builder"
    REQUEST = "request"
    BODY = "body"
    DECODE = "decode"
    REDIRECT = "redirect"


_DISPLAY = {
    ErrorKind.BUILDER: "builder error",
    ErrorKind.REQUEST: "error sending request",
    ErrorKind.BODY: "request or response body error",
    ErrorKind.DECODE: "error decoding response body",
    ErrorKind.REDIRECT: "error following redirect",
}


class TransportError(Exception):
    """A failed request, shaped like `reqwest::Error` (kind, url, timeout and connect flags)."""

    def __init__(
        self,
        kind: ErrorKind,
        url: str | None,
        *,
        timed_out: bool = False,
        connect: bool = False,
        cause: str = "",
    ) -> None:
        self.kind = kind
        self.url = url
        self.timed_out = timed_out
        self.connect = connect
        self.cause = cause
        super().__init__(self.display())

    def display(self) -> str:
        """reqwest 0.12's Display: the kind, then ` for url (<url>)` when the url is known."""
        text = _DISPLAY[self.kind]
        return f"{text} for url ({self.url})" if self.url else text

    def __str__(self) -> str:
        return self.display()

    def is_timeout(self) -> bool:
        """`reqwest::Error::is_timeout`."""
        return self.timed_out

    def is_connect(self) -> bool:
        """`reqwest::Error::is_connect`."""
        return self.connect

    def is_request(self) -> bool:
        """`reqwest::Error::is_request`."""
        return self.kind is ErrorKind.REQUEST

    def is_body(self) -> bool:
        """`reqwest::Error::is_body`."""
        return self.kind is ErrorKind.BODY

    def is_decode(self) -> bool:
        """`reqwest::Error::is_decode`."""
        return self.kind is ErrorKind.DECODE


class _Timeout(Exception):
    pass


class _Broken(Exception):
    pass


class _Target:
    """A parsed request URL, displayed the way the `url` crate serializes it."""

    __slots__ = ("display", "host", "host_header", "path", "port")

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TransportError(ErrorKind.BUILDER, None, cause=str(exc)) from exc
        scheme = parts.scheme.lower()
        if not scheme:
            raise TransportError(ErrorKind.BUILDER, None, cause="relative URL without a base")
        host = (parts.hostname or "").lower()
        netloc_host = f"[{host}]" if ":" in host else host
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = f"?{quote(parts.query, safe='/?%:@!$&()*+,;=-._~')}" if parts.query else ""
        default_port = 443 if scheme == "https" else 80
        shown_port = f":{port}" if port is not None and port != default_port else ""
        self.display = f"{scheme}://{netloc_host}{shown_port}{path}{query}"
        if scheme not in ("http", "https") or not host:
            raise TransportError(
                ErrorKind.BUILDER, self.display, cause=f"bad scheme or host in {url}"
            )
        if scheme == "https":
            raise TransportError(
                ErrorKind.REQUEST, self.display, connect=True, cause="https is not supported here"
            )
        self.host = host
        self.port = port if port is not None else default_port
        self.host_header = f"{netloc_host}{shown_port}"
        self.path = f"{path}{query}"


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


class HttpResponse:
    """A response whose head has been read; the body is read by `text()`/`read_body()`."""

    def __init__(
        self,
        session: HttpSession,
        conn: _Connection,
        url: str,
        method: str,
        status: int,
        headers: list[tuple[str, str]],
        http10: bool,
        deadline: float | None,
    ) -> None:
        self._session = session
        self._conn: _Connection | None = conn
        self.url = url
        self.method = method
        self.status = status
        self.headers = headers
        self._http10 = http10
        self._deadline = deadline

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def _all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    @property
    def is_success(self) -> bool:
        """`StatusCode::is_success`: 200..=299."""
        return 200 <= self.status <= 299

    def _keep_alive(self) -> bool:
        tokens = {t.strip().lower() for v in self._all("connection") for t in v.split(",")}
        if self._http10:
            return "keep-alive" in tokens
        return "close" not in tokens

    def read_body(self) -> bytes:
        """Read the whole body within the request's deadline; TransportError on failure."""
        conn = self._conn
        if conn is None:
            raise TransportError(ErrorKind.BODY, self.url, cause="body already consumed")
        self._conn = None
        try:
            body, reusable = self._read_framed(conn)
        except _Timeout as exc:
            self._session._discard(conn)
            raise TransportError(ErrorKind.BODY, self.url, timed_out=True) from exc
        except (_Broken, ValueError) as exc:
            self._session._discard(conn)
            raise TransportError(ErrorKind.BODY, self.url, cause=str(exc)) from exc
        if reusable and self._keep_alive():
            self._session._release(conn)
        else:
            self._session._discard(conn)
        return body

    def text(self) -> str:
        """`Response::text()`: decode by the Content-Type charset (UTF-8 by default), lossily."""
        return decode_text(self.read_body(), self.header("content-type"))

    def close(self) -> None:
        """Drop the response without reading its body (the connection is not reused)."""
        if self._conn is not None:
            self._session._discard(self._conn)
            self._conn = None

    def _read_framed(self, conn: _Connection) -> tuple[bytes, bool]:
        if self.method == "HEAD" or self.status in (204, 304):
            return b"", True
        encodings = [
            t.strip().lower() for v in self._all("transfer-encoding") for t in v.split(",")
        ]
        if encodings and encodings[-1] == "chunked":
            return self._read_chunked(conn), True
        lengths = {v.strip() for v in self._all("content-length")}
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
            if len(conn.buffer) > _MAX_HEAD_BYTES:
                raise ValueError("chunk line too long")
            data = _recv(conn, self._deadline)
            if not data:
                raise _Broken("connection closed inside a chunked body")
            conn.buffer += data

    def _read_chunked(self, conn: _Connection) -> bytes:
        body = bytearray()
        while True:
            size_text = self._read_line(conn).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise ValueError(f"invalid chunk size {size_text!r}") from exc
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


def readable_now(sock: socket.socket) -> bool:
    """True when the socket has data or EOF waiting (poll, not select: fds may exceed 1024)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def decode_text(body: bytes, content_type: str | None) -> str:
    """reqwest's `text()` decoding: BOM, then the Content-Type charset, else UTF-8; lossy."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    codec = "utf-8"
    if content_type:
        for param in content_type.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                label = value.strip().strip('"').lower()
                candidate = _WHATWG_ALIASES.get(label, label)
                try:
                    codec = codecs.lookup(candidate).name
                except LookupError:
                    codec = "utf-8"
    return body.decode(codec, errors="replace")


class HttpSession:
    """One `reqwest::Client` as AssistSupport builds it per command: a timeout and a small pool.

    `timeout_ms=None` means no timeout at all. `abort()` (from another thread) breaks every
    request in flight, so a server can stop while a session waits on a peer that never answers.
    """

    def __init__(self, timeout_ms: int | None) -> None:
        self._timeout_s = None if timeout_ms is None else timeout_ms / 1000
        self._idle: dict[tuple[str, int], _Connection] = {}
        self._open: set[_Connection] = set()
        self._lock = threading.Lock()
        self._aborted = False

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self, method: str, url: str, body: bytes | None = None, content_type: str | None = None
    ) -> HttpResponse:
        """Send a request and read the response head, following redirects like reqwest."""
        deadline = None if self._timeout_s is None else time.monotonic() + self._timeout_s
        for _ in range(_MAX_REDIRECTS + 1):
            target = _Target(url)
            response = self._send_once(method, target, body, content_type, deadline)
            location = response.header("location")
            if response.status not in _REDIRECT_STATUSES or location is None:
                return response
            response.close()
            try:
                url = urljoin(target.display, location.strip())
                _Target(url)
            except TransportError:
                return response
            if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body, content_type = "GET", None, None
        raise TransportError(ErrorKind.REDIRECT, target.display, cause="too many redirects")

    def _send_once(
        self,
        method: str,
        target: _Target,
        body: bytes | None,
        content_type: str | None,
        deadline: float | None,
    ) -> HttpResponse:
        lines = [f"{method} {target.path} HTTP/1.1", f"host: {target.host_header}", "accept: */*"]
        if content_type is not None:
            lines.append(f"content-type: {content_type}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body or b'')}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        try:
            conn = self._checkout(target, deadline)
        except (_Timeout, TimeoutError) as exc:
            raise TransportError(ErrorKind.REQUEST, target.display, timed_out=True) from exc
        except OSError as exc:
            raise TransportError(
                ErrorKind.REQUEST, target.display, connect=True, cause=str(exc)
            ) from exc
        try:
            conn.sock.settimeout(_remaining(deadline))
            conn.sock.sendall(payload)
            status, headers, http10 = self._read_head(conn, deadline)
        except (_Timeout, TimeoutError) as exc:
            self._discard(conn)
            raise TransportError(ErrorKind.REQUEST, target.display, timed_out=True) from exc
        except (_Broken, ValueError, OSError) as exc:
            self._discard(conn)
            raise TransportError(ErrorKind.REQUEST, target.display, cause=str(exc)) from exc
        return HttpResponse(self, conn, target.display, method, status, headers, http10, deadline)

    def _checkout(self, target: _Target, deadline: float | None) -> _Connection:
        key = (target.host, target.port)
        with self._lock:
            if self._aborted:
                raise OSError("request aborted: the consumer is stopping")
            conn = self._idle.pop(key, None)
        if conn is not None:
            # Like hyper's pool: a pooled connection the peer has closed (readable) is not reused.
            if not readable_now(conn.sock) and not conn.buffer:
                return conn
            self._discard(conn)
        sock = socket.create_connection((target.host, target.port), timeout=_remaining(deadline))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, key)
        with self._lock:
            self._open.add(conn)
            aborted = self._aborted
        if aborted:
            self._discard(conn)
            raise OSError("request aborted: the consumer is stopping")
        return conn

    @staticmethod
    def _read_head(
        conn: _Connection, deadline: float | None
    ) -> tuple[int, list[tuple[str, str]], bool]:
        while True:
            end = -1
            while end < 0:
                end = conn.buffer.find(b"\r\n\r\n")
                size = 4
                if end < 0:
                    end = conn.buffer.find(b"\n\n")
                    size = 2
                if end >= 0:
                    break
                if len(conn.buffer) > _MAX_HEAD_BYTES:
                    raise ValueError("message head is too large")
                data = _recv(conn, deadline)
                if not data:
                    raise _Broken("connection closed before message completed")
                conn.buffer += data
            head = bytes(conn.buffer[:end])
            del conn.buffer[: end + size]
            lines = head.replace(b"\r\n", b"\n").split(b"\n")
            match = _STATUS_LINE.fullmatch(lines[0])
            if match is None:
                raise ValueError(f"invalid HTTP status line {lines[0][:60]!r}")
            status = int(match.group(2))
            headers: list[tuple[str, str]] = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not _TOKEN.fullmatch(name):
                    raise ValueError(f"invalid header line {line[:60]!r}")
                headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
            if 100 <= status < 200 and status != 101:
                continue  # informational responses precede the real one
            return status, headers, match.group(1) == b"0"

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
