"""Fixtures: the Toxiproxy under test, an HTTP client for its API, upstreams, proxies cleaned up.

The server is the embedded one unless TOXIPROXY_URL (a running server) or TOXIPROXY_SERVER_BIN
(a toxiproxy-server to start) says otherwise; every test runs against whichever it is. A test
that needs to start the server itself (its command line) runs the binary of TOXIPROXY_SERVER_BIN
or `mkdrill serve toxiproxy`, and skips, saying why, when only TOXIPROXY_URL is given.

    TOXIPROXY_SERVER_BIN=/path/to/toxiproxy-server pytest tests/conformance
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from runner.faults.toxiproxy import find_toxiproxy_server, start_toxiproxy
from runner.reference.toxiproxy import EmbeddedToxiproxy
from tests.conformance.netutil import Recorder, TcpServer, echo, greeter, say_and_close


@dataclass(frozen=True)
class ServerUnderTest:
    """Which Toxiproxy the suite judges: "embedded", "binary" (TOXIPROXY_SERVER_BIN) or "url"."""

    kind: str
    binary: str | None = None

    def command(self, host: str, port: int, config: Path | None = None) -> list[str]:
        """Its command line on `host:port` (the flags toxiproxy-server and mkdrill share)."""
        if self.kind == "url":
            pytest.skip("TOXIPROXY_URL names a running server: this test starts one itself")
        if self.binary is not None:
            base = [self.binary, "-host", host, "-port", str(port)]
            return base + (["-config", str(config)] if config else [])
        base = [sys.executable, "-m", "runner", "serve", "toxiproxy", "--host", host]
        return base + ["--port", str(port)] + (["--config", str(config)] if config else [])


@pytest.fixture(scope="session")
def server_under_test() -> ServerUnderTest:
    """What TOXIPROXY_URL / TOXIPROXY_SERVER_BIN select."""
    if os.environ.get("TOXIPROXY_URL", "").strip():
        return ServerUnderTest("url")
    if os.environ.get("TOXIPROXY_SERVER_BIN", "").strip():
        return ServerUnderTest("binary", find_toxiproxy_server())
    return ServerUnderTest("embedded")


@pytest.fixture(scope="session")
def toxiproxy_url() -> Iterator[str]:
    """API URL of the server under test."""
    given = os.environ.get("TOXIPROXY_URL", "").strip()
    if given:
        yield given.rstrip("/")
    elif os.environ.get("TOXIPROXY_SERVER_BIN", "").strip():
        with start_toxiproxy(prefer_real=True) as handle:
            yield handle.url
    else:
        with EmbeddedToxiproxy() as embedded:
            yield embedded.url


@pytest.fixture(scope="session")
def api(toxiproxy_url: str) -> Iterator[httpx.Client]:
    """An httpx client on the API."""
    with httpx.Client(base_url=toxiproxy_url, timeout=5.0) as client:
        yield client


class Proxies:
    """Creates uniquely named proxies on the server under test and deletes them afterwards."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.names: list[str] = []

    def name(self) -> str:
        """A fresh proxy name, deleted at teardown whether or not it gets created."""
        name = f"conf_{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        return name

    def create(self, upstream: str, **fields: object) -> dict[str, object]:
        """POST /proxies with listen 127.0.0.1:0; the created proxy's JSON."""
        body = {"name": self.name(), "listen": "127.0.0.1:0", "upstream": upstream, **fields}
        response = self.api.post("/proxies", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, object] = response.json()
        return created

    def cleanup(self) -> None:
        for name in self.names:
            self.api.delete(f"/proxies/{name}")


@pytest.fixture
def proxies(api: httpx.Client) -> Iterator[Proxies]:
    """Proxy factory with cleanup."""
    factory = Proxies(api)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="session")
def echo_server() -> Iterator[TcpServer]:
    """A loopback echo server."""
    server = TcpServer(echo)
    yield server
    server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """An echo server that keeps what it received."""
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def closing_server() -> Iterator[TcpServer]:
    """A server that says b"bye" and closes."""
    server = TcpServer(say_and_close)
    yield server
    server.close()


@pytest.fixture
def tagged_servers() -> Iterator[tuple[TcpServer, TcpServer]]:
    """Two servers that greet with b"A" and b"B" and then echo."""
    first, second = TcpServer(greeter(b"A")), TcpServer(greeter(b"B"))
    yield first, second
    first.close()
    second.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every conformance test on one pytest-xdist worker: TOXIPROXY_URL names one shared server."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("conformance"))
