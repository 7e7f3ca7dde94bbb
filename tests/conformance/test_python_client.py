"""toxiproxy-python, unchanged, against the server under test: create, list, toxics, destroy."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.conformance.conftest import Proxies
from tests.conformance.netutil import TcpServer, connect, round_trip


@pytest.fixture
def client(toxiproxy_url: str) -> Iterator[Toxiproxy]:
    """The client pointed at the server under test; its class-level address is put back after."""
    saved = (APIConsumer.host, APIConsumer.port)
    parts = urllib.parse.urlsplit(toxiproxy_url)
    server = Toxiproxy()
    server.update_api_consumer(parts.hostname, parts.port)
    yield server
    APIConsumer.host, APIConsumer.port = saved


def test_client_sees_the_server_running(client: Toxiproxy) -> None:
    """Real: toxiproxy-python's running() and version() read GET /version."""
    assert client.running()
    assert b"version" in client.version()


def test_client_creates_lists_and_destroys_a_proxy(
    client: Toxiproxy, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: the client's create/proxies/destroy map 201, 409 (ProxyExists) and 204 as the server answers them."""
    name = proxies.name()
    proxy = client.create(upstream=echo_server.address, name=name)
    assert proxy.name == name
    assert proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:")
    assert name in client.proxies()
    with pytest.raises(ProxyExists):
        client.create(upstream=echo_server.address, name=name)
    assert client.destroy(client.get_proxy(name)) is True
    assert client.get_proxy(name) is None


def test_client_adds_lists_and_removes_toxics(
    client: Toxiproxy, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: the client's toxic calls see the toxic's defaults and its effect on a live connection."""
    proxy = client.create(upstream=echo_server.address, name=proxies.name())
    proxy.add_toxic(type="latency", attributes={"latency": 200})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    assert toxics["latency_downstream"].attributes == {"latency": 200, "jitter": 0}
    with connect(proxy.listen) as sock:
        assert round_trip(sock) >= 0.19
        assert proxy.destroy_toxic("latency_downstream") is True
        assert round_trip(sock) < 0.15
    assert proxy.get_toxic("latency_downstream") is None


def test_client_errors_map_to_its_exceptions(
    client: Toxiproxy, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: the server's 400 and 404 become the client's InvalidToxic and NotFound."""
    proxy = client.create(upstream=echo_server.address, name=proxies.name())
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="gremlin")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("nothing")


def test_client_takes_a_proxy_down_and_back_up(
    client: Toxiproxy, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: the client's down() disables the proxy (connections refused) and re-enables it."""
    proxy = client.create(upstream=echo_server.address, name=proxies.name())
    with proxy.down():
        assert client.get_proxy(proxy.name).enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen).close()
    assert client.get_proxy(proxy.name).enabled is True
    with connect(proxy.listen) as sock:
        assert round_trip(sock) < 0.5


def test_client_populates_and_resets(
    client: Toxiproxy, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: the client's populate() and reset() use /populate and /reset."""
    name = proxies.name()
    created = client.populate(
        [{"name": name, "upstream": echo_server.address, "listen": "127.0.0.1:0"}]
    )
    assert [proxy.name for proxy in created] == [name]
    created[0].add_toxic(type="timeout", attributes={"timeout": 0})
    assert client.reset() is True
    assert client.get_proxy(name).toxics() == {}
