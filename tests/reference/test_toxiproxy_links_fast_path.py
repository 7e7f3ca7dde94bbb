"""The embedded Toxiproxy's new-connection path: a client's first bytes are forwarded in the accept
loop's own step, and a finished connection is freed without the garbage collector."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from collections.abc import Callable, Iterator

import pytest

from runner.reference.toxiproxy.links import Connection
from runner.reference.toxiproxy.proxies import Proxy
from runner.reference.toxiproxy.toxics import Direction, Toxic


@pytest.fixture
def upstream() -> Iterator[socket.socket]:
    """A plain listening socket the proxy dials; the test accepts from it itself."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


async def _until(condition: Callable[[], object], what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


async def _first_bytes_at_upstream(
    upstream: socket.socket, toxics: list[Toxic], loop_turns: int
) -> bytes:
    """A client connects and sends "hello"; the proxy's accept step runs, then `loop_turns` turns
    of the loop: what the upstream has received by then."""
    proxy = Proxy("first", "127.0.0.1:0", _address(upstream), "127.0.0.1")
    for toxic in toxics:
        proxy.add_toxic(toxic)
    await proxy.start()
    try:
        with socket.create_connection(("127.0.0.1", int(proxy.listen.rsplit(":", 1)[1]))) as c:
            c.sendall(b"hello")
            proxy._accept_ready()  # what the loop calls when the client is queued
            upstream.settimeout(5)
            accepted, _ = upstream.accept()
            with accepted:
                for _ in range(loop_turns):
                    await asyncio.sleep(0.005)
                try:
                    return accepted.recv(100, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return b""
    finally:
        await proxy.stop()


def test_first_bytes_reach_the_upstream_in_the_step_that_accepts_the_client(
    upstream: socket.socket,
) -> None:
    assert asyncio.run(_first_bytes_at_upstream(upstream, [], loop_turns=0)) == b"hello"


def test_a_finished_connection_is_freed_without_the_garbage_collector(
    upstream: socket.socket,
) -> None:
    async def scenario() -> weakref.ref[Connection]:
        proxy = Proxy("freed", "127.0.0.1:0", _address(upstream), "127.0.0.1")
        await proxy.start()
        loop = asyncio.get_running_loop()
        upstream.setblocking(False)
        try:
            client = socket.create_connection(("127.0.0.1", int(proxy.listen.rsplit(":", 1)[1])))
            client.setblocking(False)
            await _until(lambda: proxy.connections, "the proxy linked the client")
            (connection,) = proxy.connections
            ref = weakref.ref(connection)
            del connection
            accepted, _ = await loop.sock_accept(upstream)
            await loop.sock_sendall(client, b"ping")
            assert await loop.sock_recv(accepted, 4) == b"ping"
            await loop.sock_sendall(accepted, b"pong")
            assert await loop.sock_recv(client, 4) == b"pong"
            client.close()
            assert await loop.sock_recv(accepted, 1) == b""  # the proxy closed its upstream side
            accepted.close()
            await _until(lambda: not proxy.connections, "the proxy forgot the connection")
            await asyncio.sleep(0)  # connection_lost callbacks run in the following step
            return ref
        finally:
            await proxy.stop()

    gc.collect()
    gc.disable()
    try:
        ref = asyncio.run(scenario())
        assert ref() is None, "the closed connection is kept alive by a reference cycle"
    finally:
        gc.enable()


def test_first_bytes_go_through_an_upstream_toxic_present_when_the_client_connects(
    upstream: socket.socket,
) -> None:
    """The straight path is only for a proxy with no upstream toxic: a timeout toxic drops them."""
    drop = Toxic("drop", "timeout", "upstream", Direction.UPSTREAM, 1.0, {"timeout": 0})
    assert asyncio.run(_first_bytes_at_upstream(upstream, [drop], loop_turns=20)) == b""
