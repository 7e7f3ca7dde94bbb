"""Reference MemoryKernel service: the v0.3.2 (service.v2) and v0.4.0 (service.v3) HTTP contract.

Standard library only (sqlite3, json) and the project's `http11` toolkit, so it starts fast in
a slim container. It reproduces the tagged releases, not the untagged head: no `/v1/ready`, no telemetry in health,
no server-side operation timeout. See `app` for routing, `api` for the operations and
error classification, `store` for SQLite, `query` for ordering, `json_body` for request
decoding with axum's rejection texts.

    serve(release, bind, db)              foreground, the real command line (`--db`, `--bind`),
                                          prints nothing; stops on SIGTERM/SIGINT
    split_bind("IP:PORT")                 the `--bind` value as (host, port)
    MemoryKernelServer(release, db, ...)  in-process on a background thread (tests, benchmarks)
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from runner.contract import RELEASES, Release
from runner.errors import DefinitionError
from runner.http11.server import (
    BackgroundServer,
    ServerOptions,
    WorkerSlots,
    serve_until_signalled,
)
from runner.reference.memorykernel.app import MemoryKernelApp
from runner.reference.memorykernel.json_body import BODY_LIMIT_BYTES

logger = logging.getLogger(__name__)

_STOP_JOIN_TIMEOUT_S = 10.0

# The real binary's command-line defaults.
DEFAULT_BIND = "127.0.0.1:4010"
DEFAULT_DB = Path("./memory_kernel.sqlite3")


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
    """The reference service on a background thread: `with MemoryKernelServer(...) as mk:`.

    Handlers share one worker slot per CPU, as the real service's tokio workers are shared by
    its blocking database calls: a database locked by another writer stalls health too.
    """

    def __init__(
        self,
        release: str,
        db: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        workers: int | None = None,
    ) -> None:
        self.release = release_for(release)
        self.db = Path(db)
        self.host = host
        slots = WorkerSlots.per_cpu() if workers is None else WorkerSlots(workers)
        self.app = MemoryKernelApp(self.release, self.db)
        self._server = BackgroundServer(
            f"memorykernel-{self.release.tag}",
            host,
            port,
            self.app,
            ServerOptions(body_limit=BODY_LIMIT_BYTES, slots=slots),
        )

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); kept after `stop()`."""
        return self._server.port

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123`."""
        return self._server.url

    def start(self) -> MemoryKernelServer:
        """Bind and start serving; EnvironmentProblem when the address cannot be bound."""
        self._server.start()
        logger.info("memorykernel %s serving %s with db %s", self.release.tag, self.url, self.db)
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, join threads. Safe to call twice."""
        self._server.stop()

    def __enter__(self) -> MemoryKernelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


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
    serve_until_signalled(server)
