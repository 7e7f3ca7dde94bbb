"""A small HTTP/1.1 server on asyncio streams: keep-alive, bounded reads, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import http
import logging
import socket
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One parsed request."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """One response; no Content-Length is sent with a 204, as Go's server does."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()

    def encode(self, keep_alive: bool) -> bytes:
        """The response bytes on the wire."""
        lines = [f"HTTP/1.1 {self.status} {http.HTTPStatus(self.status).phrase}"]
        if self.content_type is not None:
            lines.append(f"Content-Type: {self.content_type}")
        lines.extend(f"{name}: {value}" for name, value in self.extra_headers)
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        if self.status != 204:
            lines.append(f"Content-Length: {len(self.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """The bytes received are not an HTTP request this server accepts."""


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise BadRequest("body too large")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length_text = headers.get("content-length", "0").strip() or "0"
    if not length_text.isdigit() or int(length_text) > MAX_BODY:
        raise BadRequest("bad content length")
    return await reader.readexactly(int(length_text))


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a connection, or None when the client has closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadRequest("truncated request head") from None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    body = await _read_body(reader, headers)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return Request(method, target, headers, body, keep_alive)


class HttpServer:
    """Serves a handler on a listening socket until closed."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> None:
        """Start accepting on an already bound and listening socket."""
        self._server = await asyncio.start_server(self._serve_client, sock=sock, limit=MAX_HEAD)

    async def close(self) -> None:
        """Stop accepting, close every client connection and wait for their handlers."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._clients.add(writer)
        try:
            while True:
                try:
                    request = await read_request(reader)
                except BadRequest as exc:
                    logger.debug("bad request: %s", exc)
                    writer.write(
                        Response(400, b"400 Bad Request", "text/plain; charset=utf-8").encode(False)
                    )
                    break
                if request is None:
                    break
                response = await self._handler(request)
                writer.write(response.encode(request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)
