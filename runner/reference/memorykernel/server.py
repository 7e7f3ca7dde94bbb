"""Reference MemoryKernel service: the v0.3.2 (service.v2) and v0.4.0 (service.v3) HTTP contract.

Standard library only (http.server, sqlite3, json) so it starts fast in a slim container. It
reproduces the tagged releases, not the untagged head: no `/v1/ready`, no telemetry in health,
no server-side operation timeout. See `app` for routing, `api` for the operations and
error classification, `store` for SQLite, `query` for ordering, `json_body` for request
decoding with axum's rejection texts.

    serve(release, bind, db)              foreground, the real command line (`--db`, `--bind`),
                                          prints nothing; stops on SIGTERM/SIGINT
    split_bind("IP:PORT")                 the `--bind` value as (host, port)
    MemoryKernelServer(release, db, ...)  in-process on a background thread (tests, benchmarks)
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from pathlib import Path
from types import FrameType, TracebackType

from runner.contract import RELEASES, Release
from runner.errors import DefinitionError, EnvironmentProblem
from runner.reference.memorykernel.app import MemoryKernelApp
from runner.reference.memorykernel.transport import MemoryKernelHTTPServer

logger = logging.getLogger(__name__)

_STOP_JOIN_TIMEOUT_S = 10.0


def release_for(tag: str) -> Release:
    """The release a tag names, or a DefinitionError listing the tags there are."""
    release = RELEASES.get(tag)
    if release is None:
        known = ", ".join(RELEASES)
        raise DefinitionError(
            f"--release: unknown MemoryKernel release '{tag}'; use one of {known}"
        )
    return release


class MemoryKernelServer:
    """The reference service on a background thread: `with MemoryKernelServer(...) as mk:`."""

    def __init__(self, release: str, db: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.release = release_for(release)
        self.db = Path(db)
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._server: MemoryKernelHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); kept after `stop()`."""
        if self._bound_port is None:
            raise RuntimeError("MemoryKernelServer has not been started")
        return self._bound_port

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> MemoryKernelServer:
        """Bind and start serving; EnvironmentProblem when the address cannot be bound."""
        with self._lock:
            if self._server is not None:
                return self
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            app = MemoryKernelApp(self.release, self.db)
            address = (self.host, self._requested_port)
            try:
                server = MemoryKernelHTTPServer(address, app, family)
            except OSError as exc:
                raise EnvironmentProblem(
                    _bind_failure(self.host, self._requested_port, exc)
                ) from exc
            self._server = server
            self._bound_port = int(server.server_address[1])
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"memorykernel-{self.release.tag}-{self.port}",
                daemon=True,
            )
            self._thread.start()
            logger.info(
                "memorykernel %s serving %s with db %s", self.release.tag, self.url, self.db
            )
            return self

    def stop(self) -> None:
        """Stop accepting, close open connections, join threads. Safe to call twice."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(_STOP_JOIN_TIMEOUT_S)

    def __enter__(self) -> MemoryKernelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    address = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {address}: address already in use; "
            "pick another --bind or stop the process holding it"
        )
    return f"cannot listen on {address}: {exc.strerror or exc}; check --bind"


def split_bind(bind: str) -> tuple[str, int]:
    """`--bind IP:PORT` (IPv6 as `[::1]:PORT`) as (host, port); DefinitionError when malformed."""
    host, sep, port = bind.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise DefinitionError(f"--bind: expected IP:PORT such as 127.0.0.1:4010 (got {bind!r})")
    return host, int(port)


def serve(release: str, bind: str, db: Path) -> None:
    """Serve in the foreground until SIGTERM or SIGINT, printing nothing, as the real service does.

    Readiness is `GET /v1/health` answering; a bad `db` never stops it from starting (the
    database is opened per request).
    """
    host, port = split_bind(bind)
    server = MemoryKernelServer(release, db, host=host, port=port)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        while not stop_requested.wait(0.5):
            pass
        logger.info("memorykernel %s stopping on signal", server.release.tag)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
