"""HTTP/1.1 on the wire: request heads parsed like hyper's httparse, response heads like hyper's.

Pure functions on bytes, so a threaded or an asyncio server can use them. What a client can
tell is kept: a request line or header httparse refuses is a `BadRequest` (hyper answers 400
with an empty body and `connection: close`); an HTTP/1.0 request is answered as HTTP/1.0;
header names are written in lower case, in the order hyper writes them (the handler's, then
`content-length`, `connection`, `date`).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100  # hyper's default

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+")
_HEADER_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_VERSIONS = {b"HTTP/1.1": "HTTP/1.1", b"HTTP/1.0": "HTTP/1.0"}
HTTP2_PREFACE = b"PRI * HTTP/2.0"
# The `http` crate's reason phrases where Python's differ.
_REASONS = {
    413: "Payload Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    418: "I'm a teapot",
    422: "Unprocessable Entity",
}


class BadRequest(Exception):
    """Bytes that are not a request this server accepts; `status` is what hyper answers."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


class Headers:
    """Header fields in arrival order; names compare case-insensitively."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self.fields: list[tuple[str, str]] = list(fields)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, or `default`."""
        lowered = name.lower()
        for key, value in self.fields:
            if key.lower() == lowered:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in order."""
        lowered = name.lower()
        return [value for key, value in self.fields if key.lower() == lowered]

    def tokens(self, name: str) -> set[str]:
        """The comma-separated tokens of every `name` field, lower-cased (`Connection: a, b`)."""
        return {t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()}

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)


@dataclass(frozen=True)
class RequestHead:
    """A parsed request line and its headers."""

    method: str
    target: str
    version: str
    headers: Headers

    @property
    def path(self) -> str:
        """The path of the target (an absolute-form target's path too), without the query."""
        target = self.target
        if "://" in target.split("?", 1)[0]:
            after_scheme = target.split("://", 1)[1]
            slash = after_scheme.find("/")
            target = after_scheme[slash:] if slash >= 0 else "/"
        return target.split("?", 1)[0] or "/"

    @property
    def query(self) -> str:
        """The query string, without `?`."""
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def wants_keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only on `keep-alive`."""
        tokens = self.headers.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def body_framing(self) -> tuple[str, int]:
        """(`chunked`, 0), (`length`, n) or (`none`, 0); BadRequest when the framing is ambiguous."""
        encodings = [
            t.strip().lower()
            for v in self.headers.get_all("transfer-encoding")
            for t in v.split(",")
            if t.strip()
        ]
        if encodings:
            if self.version == "HTTP/1.0" or encodings[-1] != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            return "chunked", 0
        lengths = {v.strip() for v in self.headers.get_all("content-length")}
        if not lengths:
            return "none", 0
        if len(lengths) != 1:
            raise BadRequest("conflicting content-length headers")
        text = next(iter(lengths))
        if not text.isdigit():
            raise BadRequest(f"invalid content-length {text!r}")
        return "length", int(text)


def head_end(buffer: bytes | bytearray) -> int:
    """Index just past the blank line ending a head (CRLF or bare LF), or -1 if not yet complete."""
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else -1


def parse_request_head(head: bytes) -> RequestHead:
    """Parse a request head (without its final blank line is fine); BadRequest when httparse would."""
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    while lines and lines[0] == b"":
        lines.pop(0)  # httparse skips empty lines before the request line
    if not lines:
        raise BadRequest("empty request")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _TARGET.fullmatch(parts[1]):
        raise BadRequest(f"invalid request line {lines[0][:80]!r}")
    version = _VERSIONS.get(parts[2])
    if version is None:
        raise BadRequest(f"unsupported version {parts[2][:20]!r}")
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise BadRequest(f"invalid header line {line[:80]!r}")
        value = value.strip(b" \t")
        if not _HEADER_VALUE.fullmatch(value):
            raise BadRequest(f"invalid header value in {name[:40]!r}")
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
        if len(fields) > MAX_HEADERS:
            raise BadRequest("too many headers", 431)
    return RequestHead(
        parts[0].decode("latin-1"), parts[1].decode("latin-1"), version, Headers(fields)
    )


def parse_chunk_size(line: bytes) -> int:
    """The size of a chunk from its size line (extensions ignored); ValueError when invalid."""
    text = line.split(b";", 1)[0].strip()
    if not text or not re.fullmatch(rb"[0-9A-Fa-f]+", text):
        raise ValueError(f"invalid chunk size line {line[:40]!r}")
    return int(text, 16)


def reason(status: int) -> str:
    """The reason phrase hyper sends for a status (the `http` crate's canonical reason)."""
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def http_date() -> str:
    """The current time as an HTTP date (`Tue, 01 Dec 2026 21:23:02 GMT`)."""
    return email.utils.formatdate(usegmt=True)


def response_head(
    version: str,
    status: int,
    headers: Sequence[tuple[str, str]],
    *,
    content_length: int | None,
    connection: str | None = None,
) -> bytes:
    """A response head: the handler's headers, then content-length, connection and date."""
    lines = [f"{version} {status} {reason(status)}".rstrip()]
    lines.extend(f"{name.lower()}: {value}" for name, value in headers)
    if content_length is not None:
        lines.append(f"content-length: {content_length}")
    if connection is not None:
        lines.append(f"connection: {connection}")
    lines.append(f"date: {http_date()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def bad_request_response(status: int = 400) -> bytes:
    """What hyper writes for a request it cannot parse: empty body, `connection: close`."""
    return (
        f"HTTP/1.1 {status} {reason(status)}\r\nconnection: close\r\ncontent-length: 0\r\n"
        f"date: {http_date()}\r\n\r\n"
    ).encode("latin-1")
