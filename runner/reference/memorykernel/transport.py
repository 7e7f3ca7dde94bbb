"""HTTP/1.1 transport for the reference MemoryKernel: keep-alive handler and a stoppable server."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from runner.reference.memorykernel.app import MemoryKernelApp, Request, Response
from runner.reference.memorykernel.json_body import BODY_LIMIT_BYTES

logger = logging.getLogger(__name__)

_MAX_REQUEST_LINE = 65536
_MAX_DRAIN_BYTES = 16 * 1024 * 1024


class MemoryKernelHTTPServer(ThreadingHTTPServer):
    """A threading server that can close its idle keep-alive connections when it stops."""

    daemon_threads = True
    block_on_close = True  # server_close() joins the connection threads
    # tokio's listener backlog: a burst of 40-60 connections is answered, not reset (the
    # socketserver default of 5 reset several of them after ~1 s).
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: MemoryKernelApp, family: int) -> None:
        self.address_family = family
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, MemoryKernelRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall startup without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread blocked on an idle keep-alive socket so it can exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class MemoryKernelRequestHandler(BaseHTTPRequestHandler):
    """One connection: parse requests, let the app answer, write responses, keep the line open."""

    protocol_version = "HTTP/1.1"
    server: MemoryKernelHTTPServer

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
            return
        if len(self.raw_requestline) > _MAX_REQUEST_LINE:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        try:
            request = self._read_request()
        except ValueError as exc:
            self.close_connection = True
            self._send(Response(400, str(exc).encode(), "text/plain; charset=utf-8"))
            return
        response = self.server.app.handle(request)
        self._send(response)

    def _read_request(self) -> Request:
        path = urlsplit(self.path).path or "/"
        content_type = self.headers.get("Content-Type")
        body: bytes | None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._read_chunked()
        else:
            length_text = self.headers.get("Content-Length", "0").strip() or "0"
            if not length_text.isdigit():
                raise ValueError("invalid Content-Length header")
            length = int(length_text)
            if length > BODY_LIMIT_BYTES:
                # Refused unread. Draining a moderate excess first lets the client read the 413
                # instead of meeting a reset; beyond that the connection is simply dropped.
                self.close_connection = True
                if length <= _MAX_DRAIN_BYTES:
                    self._discard(length)
                body = None
            else:
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    raise ValueError("request body ended early")
        return Request(self.command, path, content_type, body)

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError("invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            total += size
            if total > BODY_LIMIT_BYTES:
                self.close_connection = True
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)
        return b"".join(chunks)

    def _send(self, response: Response) -> None:
        self.send_response_only(response.status)
        if response.content_type is not None:
            self.send_header("content-type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.send_header("date", self.date_time_string())
        if self.close_connection:
            self.send_header("connection", "close")
        # Head and body in one write: two small writes meet Nagle + delayed ACK (~40 ms stalls).
        pending: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        pending.append(b"\r\n")
        if self.command != "HEAD":
            pending.append(response.body)
        self.flush_headers()
        logger.debug('"%s" %d', self.requestline, response.status)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)
