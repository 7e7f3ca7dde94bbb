"""The server's own command line: proxies from a -config file, served at start; SIGTERM and SIGINT
stop it with exit 0. Runs the toxiproxy-server of TOXIPROXY_SERVER_BIN, else `mkdrill serve
toxiproxy` (which takes the same flags, spelled --host/--port/--config)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.conftest import ServerUnderTest
from tests.conformance.netutil import TcpServer, connect, round_trip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_api(url: str, process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Until GET /version answers (neither server prints its address once bound)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the server exited with {process.returncode}"
            try:
                if client.get(f"{url}/version").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise AssertionError(f"{url}/version did not answer within {timeout_s} s")


@pytest.fixture
def served(
    tmp_path: Path, echo_server: TcpServer, server_under_test: ServerUnderTest
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The server started with a config of one proxy; yields (process, API URL) once it answers."""
    config = tmp_path / "proxies.json"
    proxy = {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo_server.address}
    config.write_text(json.dumps([proxy]))
    port = free_port()
    process = subprocess.Popen(
        server_under_test.command("127.0.0.1", port, config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_api(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_config_proxies_are_served_and_sigterm_stops_it(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    """Real: cmd/server/server.go populates -config before the API listens, and SIGTERM shuts
    the API down and exits 0."""
    process, url = served
    with httpx.Client(base_url=url, timeout=5) as api:
        listen = api.get("/proxies/echo").json()["listen"]
    with connect(listen) as client:
        assert round_trip(client) < 0.5
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_sigint_stops_it_with_exit_0(served: tuple[subprocess.Popen[bytes], str]) -> None:
    """Real: SIGINT is handled like SIGTERM (signal.Notify(signals, SIGINT, SIGTERM)), exit 0."""
    process, _url = served
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
