"""The embedded Toxiproxy server's lifecycle: in the foreground (serve) or on a thread."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import socket
import threading
from pathlib import Path
from types import TracebackType

from runner.errors import DefinitionError, EnvironmentProblem
from runner.reference.toxiproxy.addresses import format_address, listen_backlog
from runner.reference.toxiproxy.api import ToxiproxyApi
from runner.reference.toxiproxy.http_server import HttpServer
from runner.reference.toxiproxy.proxies import ProxyCollection

logger = logging.getLogger(__name__)

ProxySpec = tuple[str, str, str, bool]


def bind_api_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket; a port in use is an environment problem, said in one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EnvironmentProblem(
            f"toxiproxy API: cannot resolve host {host!r} ({exc.strerror}); pass --host 127.0.0.1"
        ) from exc
    family, kind, proto, _canonical, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(listen_backlog())
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise EnvironmentProblem(
            f"toxiproxy API: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "stop whatever holds the port or pass another --port"
        ) from exc
    return sock


def load_config(path: Path) -> list[ProxySpec]:
    """Proxies to create at start: a JSON list as POST /populate and `-config` take."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(
            f"{path}: cannot read ({exc.strerror or exc}); check the --config path"
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"{path}: not valid JSON ({exc}); give a list of proxies") from exc
    if not isinstance(value, list):
        raise DefinitionError(
            f"{path}: must be a JSON list of proxies, each with name, listen and upstream"
        )
    specs: list[ProxySpec] = []
    for index, item in enumerate(value):
        where = f"{path}: [{index}]"
        if not isinstance(item, dict):
            raise DefinitionError(f"{where}: must be an object with name, listen and upstream")
        name, listen, upstream = item.get("name"), item.get("listen", ""), item.get("upstream")
        enabled = item.get("enabled", True)
        for field, field_value in (("name", name), ("upstream", upstream)):
            if not isinstance(field_value, str) or not field_value:
                raise DefinitionError(
                    f"{where}.{field}: required, a non-empty string (got {field_value!r})"
                )
        if not isinstance(listen, str):
            raise DefinitionError(
                f'{where}.listen: must be a string like "127.0.0.1:20000" (got {listen!r})'
            )
        if not isinstance(enabled, bool):
            raise DefinitionError(f"{where}.enabled: must be true or false (got {enabled!r})")
        assert isinstance(name, str) and isinstance(upstream, str)
        specs.append((name, listen, upstream, enabled))
    return specs


class ToxiproxyServer:
    """API plus proxies on one event loop."""

    def __init__(self, host: str) -> None:
        self.proxies = ProxyCollection(default_host=host)
        self.api = ToxiproxyApi(self.proxies)
        self.http = HttpServer(self.api.handle)

    async def start(self, sock: socket.socket, config: list[ProxySpec]) -> None:
        """Create the configured proxies, then serve the API on `sock`."""
        applied, error = await self.proxies.populate(config)
        if error is not None:
            self.proxies.close()
            raise EnvironmentProblem(
                f"toxiproxy config: proxy #{len(applied) + 1} could not start ({error.message}); "
                "free the port or change its listen address"
            )
        await self.http.start(sock)

    async def close(self) -> None:
        """Stop the API and every proxy."""
        await self.http.close()
        self.proxies.close()


def serve(host: str, port: int, config: Path | None) -> None:
    """Run the embedded Toxiproxy in the foreground until SIGTERM or SIGINT, then exit cleanly."""
    specs = load_config(config) if config is not None else []
    sock = bind_api_socket(host, port)
    asyncio.run(_serve_until_signalled(sock, specs, host))


async def _serve_until_signalled(sock: socket.socket, specs: list[ProxySpec], host: str) -> None:
    server = ToxiproxyServer(host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        bound = format_address(sock.getsockname())
        await server.start(sock, specs)
        # What start-up made (about 34,000 objects: the command line, the modules) stays for good:
        # out of the collector's sight, a full collection costs what the proxies hold, not the
        # 50-100 ms on a busy machine that would land on whichever round trip it interrupts.
        gc.freeze()
        print(f"toxiproxy (embedded) listening on http://{bound}", flush=True)
        await stop.wait()
    finally:
        await server.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


class EmbeddedToxiproxy:
    """The embedded server on its own event-loop thread, for tests, benchmarks and local runs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        """The API port actually bound (after start)."""
        if self._port is None:
            raise RuntimeError("EmbeddedToxiproxy is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. http://127.0.0.1:40123."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmbeddedToxiproxy:
        """Bind the API port (EnvironmentProblem if taken) and serve on a daemon thread."""
        if self._thread is not None:
            return self
        sock = bind_api_socket(self.host, self._requested_port)
        self._port = int(sock.getsockname()[1])
        self._ready.clear()
        self._failure = None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"toxiproxy-embedded-{self._port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise EnvironmentProblem(
                f"embedded toxiproxy on port {self._port} did not start within 10 s"
            )
        if self._failure is not None:
            self._thread.join(timeout=5)
            self._thread = None
            raise EnvironmentProblem(f"embedded toxiproxy failed to start: {self._failure}")
        return self

    def stop(self) -> None:
        """Stop the API and every proxy and wait for the thread; calling it again does nothing."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        if thread.is_alive():
            logger.warning("embedded toxiproxy thread did not stop within 10 s")
        self._thread = None
        self._loop = None
        self._stop = None

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._failure = exc
            self._ready.set()
            if not isinstance(exc, Exception):
                raise

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = ToxiproxyServer(self.host)
        try:
            await server.start(sock, [])
        except BaseException:
            sock.close()
            raise
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()
