"""Finding a toxiproxy-server and starting one (or the embedded server) for a run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO

import httpx

from runner.errors import DefinitionError, EnvironmentProblem

SERVER_BIN_ENV = "TOXIPROXY_SERVER_BIN"


def find_toxiproxy_server() -> str | None:
    """A toxiproxy-server: $TOXIPROXY_SERVER_BIN if set (it must exist), else one on PATH."""
    configured = os.environ.get(SERVER_BIN_ENV, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise DefinitionError(
                f"{SERVER_BIN_ENV}={configured}: not an executable file; fix the path or unset it"
            )
        return found
    return shutil.which("toxiproxy-server")


class ToxiproxyHandle:
    """A running Toxiproxy (real or embedded): its API URL and which kind it is; closes on exit."""

    def __init__(self, url: str, kind: str, stop: Callable[[], None]) -> None:
        self.url = url
        self.kind = kind
        self._stop: Callable[[], None] | None = stop

    def close(self) -> None:
        """Stop the server; calling it again does nothing."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> ToxiproxyHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToxiproxyHandle(url={self.url!r}, kind={self.kind!r})"


def start_toxiproxy(
    prefer_real: bool = True, startup_timeout: float = 10.0, binary: str | None = None
) -> ToxiproxyHandle:
    """Start a toxiproxy-server on a free loopback port when one is found (and preferred), else the
    embedded server; `binary` names the toxiproxy-server to run instead of looking for one. Use as
    a context manager; `.kind` says which one runs."""
    if binary is None:
        binary = find_toxiproxy_server() if prefer_real else None
    if binary is not None:
        return _start_real(binary, startup_timeout)
    from runner.reference.toxiproxy import EmbeddedToxiproxy

    embedded = EmbeddedToxiproxy(host="127.0.0.1", port=0).start()
    return ToxiproxyHandle(embedded.url, "embedded", embedded.stop)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_real(binary: str, startup_timeout: float) -> ToxiproxyHandle:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the handle
    process = subprocess.Popen(
        [binary, "-host", "127.0.0.1", "-port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log.close()

    deadline = time.monotonic() + startup_timeout
    with httpx.Client(timeout=1.0) as client:
        while True:
            if process.poll() is not None:
                log.seek(0)
                tail = log.read().decode("utf-8", "replace").strip().splitlines()[-1:] or [
                    "no output"
                ]
                stop()
                raise EnvironmentProblem(
                    f"{binary} exited with {process.returncode} at start: {tail[0]}"
                )
            try:
                text = client.get(f"{url}/version").text.strip()
                break
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                stop()
                raise EnvironmentProblem(
                    f"{binary} did not answer {url}/version within {startup_timeout:.0f} s; "
                    "check it starts by hand"
                )
            time.sleep(0.05)
    version = text
    with contextlib.suppress(ValueError, TypeError, KeyError):
        version = str(json.loads(text)["version"])
    return ToxiproxyHandle(url, f"toxiproxy-server {version}", stop)
