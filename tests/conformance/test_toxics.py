"""Each toxic's effect on real traffic through the proxy, and proxies enabled, disabled, re-pointed.

Timing checks have wide margins: they tell a toxic that acts from one that does not.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.conftest import Proxies
from tests.conformance.netutil import (
    Recorder,
    TcpServer,
    connect,
    recv_exactly,
    recv_until_closed,
    round_trip,
)


def add_toxic(api: httpx.Client, proxy: object, **toxic: object) -> dict[str, object]:
    response = api.post(f"/proxies/{proxy}/toxics", json=toxic)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_bytes_pass_unchanged_without_toxics(proxies: Proxies, echo_server: TcpServer) -> None:
    """Real: with no toxic a link copies bytes unchanged both ways (link.go, the noop stub)."""
    proxy = proxies.create(echo_server.address)
    payload = bytes(range(256)) * 400
    with connect(str(proxy["listen"])) as client:
        client.sendall(payload)
        assert recv_exactly(client, len(payload)) == payload
        assert round_trip(client) < 0.5


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays_each_round_trip(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer, stream: str
) -> None:
    """Real: latency holds each chunk `latency` ms, on either stream (toxics/latency.go)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="latency", stream=stream, attributes={"latency": 200})
    with connect(str(proxy["listen"])) as client:
        elapsed = round_trip(client)
    assert 0.19 <= elapsed < 1.5


def test_latency_jitter_stays_within_its_bounds(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: jitter varies the delay by at most ±jitter ms (toxics/latency.go delay)."""
    proxy = proxies.create(echo_server.address)
    attributes = {"latency": 100, "jitter": 50}
    add_toxic(api, proxy["name"], type="latency", attributes=attributes)
    with connect(str(proxy["listen"])) as client:
        elapsed = [round_trip(client) for _ in range(4)]
    assert all(0.045 <= t < 1.0 for t in elapsed), elapsed


def test_toxic_added_and_removed_on_a_live_connection(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: toxics reach live connections when added and leave them when removed (link.go AddToxic, RemoveToxic)."""
    proxy = proxies.create(echo_server.address)
    with connect(str(proxy["listen"])) as client:
        assert round_trip(client) < 0.15
        add_toxic(api, proxy["name"], type="latency", attributes={"latency": 250})
        assert round_trip(client) >= 0.24
        api.delete(f"/proxies/{proxy['name']}/toxics/latency_downstream")
        assert round_trip(client) < 0.15


def test_updated_toxic_acts_on_a_live_connection(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: an updated toxic restarts on live links with the new attributes (link.go UpdateToxic)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="latency", name="lag", attributes={"latency": 50})
    with connect(str(proxy["listen"])) as client:
        assert round_trip(client) < 0.2
        api.post(f"/proxies/{proxy['name']}/toxics/lag", json={"attributes": {"latency": 300}})
        assert round_trip(client) >= 0.29


def test_toxicity_zero_has_no_effect(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a toxic whose toxicity roll fails passes data as noop (toxics/toxic.go ToxicStub.Run)."""
    proxy = proxies.create(echo_server.address)
    toxic = {"type": "latency", "toxicity": 0.0, "attributes": {"latency": 1000}}
    add_toxic(api, proxy["name"], **toxic)
    with connect(str(proxy["listen"])) as client:
        assert round_trip(client) < 0.5


def test_toxicity_is_rolled_per_connection(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: toxicity is rolled when a toxic starts on each link, so connections differ (ToxicStub.Run)."""
    proxy = proxies.create(echo_server.address)
    toxic = {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 300}}
    add_toxic(api, proxy["name"], **toxic)
    clients = [connect(str(proxy["listen"])) for _ in range(16)]
    answered: list[float] = []
    with selectors.DefaultSelector() as selector:
        try:
            started = time.monotonic()
            for client in clients:
                client.sendall(b"ping")
                selector.register(client, selectors.EVENT_READ)
            while len(answered) < len(clients) and time.monotonic() - started < 3.0:
                for key, _events in selector.select(timeout=0.5):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    assert recv_exactly(sock, 4) == b"ping"
                    answered.append(time.monotonic() - started)
                    selector.unregister(sock)
        finally:
            for client in clients:
                client.close()
    assert len(answered) == len(clients)
    # Each connection is slowed or not as a whole; 16 coin flips all alike is a 1 in 32768 event.
    assert any(t < 0.15 for t in answered), answered
    assert any(t >= 0.29 for t in answered), answered


def test_bandwidth_slows_the_transfer(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: bandwidth sends at most `rate` KB/s (toxics/bandwidth.go)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="bandwidth", attributes={"rate": 20})  # 20 KB/s
    payload = b"x" * 10_000
    with connect(str(proxy["listen"])) as client:
        elapsed = round_trip(client, payload)
    assert 0.4 <= elapsed < 3.0  # 10 KB at 20 KB/s is 0.5 s


def test_slicer_splits_data_into_small_reads(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: slicer cuts chunks to about average_size bytes, `delay` µs apart (toxics/slicer.go)."""
    proxy = proxies.create(echo_server.address)
    attributes = {"average_size": 64, "size_variation": 16, "delay": 5000}
    add_toxic(api, proxy["name"], type="slicer", attributes=attributes)
    payload = bytes(range(256)) * 4
    with connect(str(proxy["listen"])) as client:
        client.sendall(payload)
        received, reads = b"", 0
        while len(received) < len(payload):
            part = client.recv(65536)
            assert part, "closed early"
            received += part
            reads += 1
    assert received == payload
    assert reads >= 4


def test_limit_data_cuts_the_stream(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: limit_data closes the stream after `bytes` bytes (toxics/limit_data.go)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="limit_data", attributes={"bytes": 100})
    with connect(str(proxy["listen"])) as client:
        client.sendall(b"y" * 300)
        received, _reads = recv_until_closed(client)
    assert received == b"y" * 100


def test_timeout_holds_data_then_closes(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: timeout drops what passes and closes `timeout` ms later (toxics/timeout.go Pipe)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="timeout", attributes={"timeout": 300})
    started = time.monotonic()
    with connect(str(proxy["listen"])) as client:
        client.sendall(b"held")
        with contextlib.suppress(ConnectionResetError):
            received, _reads = recv_until_closed(client)
            assert received == b""
    assert 0.25 <= time.monotonic() - started < 3.0


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_timeout_drops_data_while_on_and_closes_when_removed(
    api: httpx.Client, proxies: Proxies, recorder: Recorder, stream: str
) -> None:
    """Real: timeout drops every chunk while on (toxics/timeout.go Pipe: "Drop the data on the
    ground"); removing it runs its Cleanup, which closes the connection (link.go RemoveToxic)."""
    proxy = proxies.create(recorder.address)
    add_toxic(api, proxy["name"], type="timeout", stream=stream, attributes={"timeout": 0})
    with connect(str(proxy["listen"]), timeout=0.4) as client:
        client.sendall(b"held")
        with pytest.raises(TimeoutError):
            client.recv(10)
        removed = api.delete(f"/proxies/{proxy['name']}/toxics/timeout_{stream}")
        assert removed.status_code == 204
        client.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert recv_until_closed(client)[0] == b""  # closed, and the held bytes never came
    assert recorder.received == [b""] if stream == "upstream" else [b"held"]


def test_reset_closes_connections_held_by_a_timeout(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: POST /reset removes toxics through the same Cleanup: a timeout's connection closes."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="timeout", attributes={"timeout": 0})
    with connect(str(proxy["listen"]), timeout=0.3) as client:
        client.sendall(b"held")
        with pytest.raises(TimeoutError):
            client.recv(10)
        assert api.post("/reset").status_code == 204
        client.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert recv_until_closed(client)[0] == b""


def test_timeout_restarts_its_clock_with_each_chunk(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: timeout's select makes a new time.After on every pass, so each chunk it drops
    restarts the wait: the connection closes `timeout` ms after the last chunk."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="timeout", stream="upstream", attributes={"timeout": 600})
    with connect(str(proxy["listen"])) as client:
        client.setblocking(False)
        started = time.monotonic()
        last = started
        while time.monotonic() - started < 1.5:  # 2.5 timeouts, never 600 ms without a chunk
            client.send(b".")
            last = time.monotonic()
            with contextlib.suppress(BlockingIOError):
                assert client.recv(10) != b"", "closed although chunks kept coming"
            time.sleep(0.15)
        client.setblocking(True)
        client.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert recv_until_closed(client)[0] == b""
    assert 0.5 <= time.monotonic() - last < 3.0


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_reset_peer_resets_the_connection(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer, stream: str
) -> None:
    """Real: reset_peer with timeout 0 resets (RST) the connection at once, either stream (toxics/reset_peer.go)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="reset_peer", stream=stream, attributes={"timeout": 0})
    with connect(str(proxy["listen"])) as client:
        client.sendall(b"reset me")
        with pytest.raises(ConnectionResetError):
            client.recv(10)


def test_reset_peer_waits_its_timeout(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: reset_peer resets `timeout` ms after the first data (toxics/reset_peer.go)."""
    proxy = proxies.create(echo_server.address)
    add_toxic(api, proxy["name"], type="reset_peer", stream="upstream", attributes={"timeout": 200})
    with connect(str(proxy["listen"])) as client:
        started = time.monotonic()
        client.sendall(b"reset me")
        with pytest.raises(ConnectionResetError):
            recv_until_closed(client)
        assert 0.19 <= time.monotonic() - started < 3.0


def test_slow_close_delays_the_close(
    api: httpx.Client, proxies: Proxies, closing_server: TcpServer
) -> None:
    """Real: slow_close holds the close `delay` ms (toxics/slow_close.go)."""
    proxy = proxies.create(closing_server.address)
    add_toxic(api, proxy["name"], type="slow_close", attributes={"delay": 300})
    with connect(str(proxy["listen"])) as client:
        assert recv_exactly(client, 3) == b"bye"
        started = time.monotonic()
        rest, _reads = recv_until_closed(client)
    assert rest == b""
    assert 0.25 <= time.monotonic() - started < 3.0


def test_disabled_proxy_refuses_and_drops_connections(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a disabled proxy closes its listener and every connection (proxy.go stop)."""
    proxy = proxies.create(echo_server.address)
    listen = str(proxy["listen"])
    with connect(listen) as client:
        assert round_trip(client) < 0.5
        api.post(f"/proxies/{proxy['name']}", json={"enabled": False})
        with contextlib.suppress(ConnectionResetError):
            assert recv_until_closed(client)[0] == b""
    with pytest.raises(ConnectionRefusedError):
        connect(listen).close()
    api.post(f"/proxies/{proxy['name']}", json={"enabled": True})
    with connect(listen) as client:
        assert round_trip(client) < 0.5


def test_reset_re_enables_a_disabled_proxy(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: POST /reset starts a stopped proxy on its listen address again (api.go ResetState)."""
    proxy = proxies.create(echo_server.address)
    api.post(f"/proxies/{proxy['name']}", json={"enabled": False})
    assert api.post("/reset").status_code == 204
    with connect(str(proxy["listen"])) as client:
        assert round_trip(client) < 0.5


def test_new_upstream_serves_new_connections(
    api: httpx.Client, proxies: Proxies, tagged_servers: tuple[TcpServer, TcpServer]
) -> None:
    """Real: an updated upstream is dialled for every later client (proxy.go Update, server)."""
    first, second = tagged_servers
    proxy = proxies.create(first.address)
    with connect(str(proxy["listen"])) as client:
        assert recv_exactly(client, 1) == b"A"
    api.post(f"/proxies/{proxy['name']}", json={"upstream": second.address})
    with connect(str(proxy["listen"])) as client:
        assert recv_exactly(client, 1) == b"B"


def test_unreachable_upstream_closes_the_client(proxies: Proxies) -> None:
    """Real: a failed dial closes the accepted client (proxy.go server: "Unable to open connection to upstream")."""
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead = f"127.0.0.1:{placeholder.getsockname()[1]}"
    proxy = proxies.create(dead)
    with connect(str(proxy["listen"])) as client, contextlib.suppress(ConnectionResetError):
        assert recv_until_closed(client)[0] == b""


class _JsonHandler(http.server.BaseHTTPRequestHandler):
    body = json.dumps({"items": ["x" * 50] * 20}).encode()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _JsonHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_through_the_proxy_with_latency_and_a_cut_body(
    api: httpx.Client, proxies: Proxies, http_upstream: str
) -> None:
    """Real: HTTP through the proxy: latency delays the answer, limit_data cuts its body."""
    proxy = proxies.create(http_upstream)
    url = f"http://{proxy['listen']}/"
    with httpx.Client(timeout=5) as client:
        assert client.get(url).json()["items"]
        add_toxic(api, proxy["name"], type="latency", attributes={"latency": 200})
        started = time.monotonic()
        assert client.get(url).status_code == 200
        assert time.monotonic() - started >= 0.19
        api.delete(f"/proxies/{proxy['name']}/toxics/latency_downstream")
        add_toxic(api, proxy["name"], type="limit_data", attributes={"bytes": 300})
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(url, headers={"Connection": "close"})
