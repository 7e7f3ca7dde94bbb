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
from enum import StrEnum
from urllib.parse import quote, urljoin, urlsplit

from runner.http11.client import ClientError, ClientResponse, ClientSession

_MAX_REDIRECTS = 10
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
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


class HttpResponse:
    """A response whose head has been read; the body is read by `text()`/`read_body()`."""

    def __init__(self, response: ClientResponse, url: str) -> None:
        self._response = response
        self.url = url
        self.status = response.status
        self.headers = response.headers.fields

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively."""
        return self._response.header(name)

    @property
    def is_success(self) -> bool:
        """`StatusCode::is_success`: 200..=299."""
        return 200 <= self.status <= 299

    def read_body(self) -> bytes:
        """Read the whole body within the request's deadline; TransportError on failure."""
        try:
            return self._response.read_body()
        except ClientError as exc:
            raise TransportError(
                ErrorKind.BODY, self.url, timed_out=exc.timed_out, cause=exc.cause
            ) from exc

    def text(self) -> str:
        """`Response::text()`: decode by the Content-Type charset (UTF-8 by default), lossily."""
        return decode_text(self.read_body(), self.header("content-type"))

    def close(self) -> None:
        """Drop the response without reading its body (the connection is not reused)."""
        self._response.close()


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
        self._session = ClientSession(None if timeout_ms is None else timeout_ms / 1000)

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self, method: str, url: str, body: bytes | None = None, content_type: str | None = None
    ) -> HttpResponse:
        """Send a request and read the response head, following redirects like reqwest."""
        deadline = self._session.deadline()
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
        headers = [("host", target.host_header), ("accept", "*/*")]
        if content_type is not None:
            headers.append(("content-type", content_type))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            headers.append(("content-length", str(len(body or b""))))
        try:
            response = self._session.request(
                method, target.host, target.port, target.path, headers, body, deadline=deadline
            )
        except ClientError as exc:
            raise TransportError(
                ErrorKind.REQUEST,
                target.display,
                timed_out=exc.timed_out,
                connect=exc.phase == "connect" and not exc.timed_out,
                cause=exc.cause,
            ) from exc
        return HttpResponse(response, target.display)

    def abort(self) -> None:
        """Break every request in flight (safe from another thread); later requests fail fast."""
        self._session.abort()

    def close(self) -> None:
        """Close every connection of this session."""
        self._session.close()
