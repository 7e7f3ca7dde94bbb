"""How a proxy accepts and dials: one client at a time, no dial timeout, a stop that waits for it.

This is what makes a real Toxiproxy jam behind a frozen upstream: while one dial hangs, later
clients wait unaccepted in the proxy's own listen queue. Socket states are read from /proc, so the
server under test must run on this host (as every proxy test here assumes).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from runner.sockets import listener_view, read_table
from tests.conformance.conftest import Proxies
from tests.conformance.netutil import StalledListener, connect, split_listen


@pytest.fixture
def stalled() -> Iterator[StalledListener]:
    """An upstream whose listen queue is full."""
    listener = StalledListener()
    yield listener
    listener.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.02)


def test_one_client_is_dialled_at_a_time_with_no_dial_timeout(
    api: httpx.Client, proxies: Proxies, stalled: StalledListener
) -> None:
    """Real: proxy.go server() accepts a client, then net.Dial()s the upstream with no timeout
    before it accepts the next; stop() waits for that accept loop, so disabling the proxy waits
    for the dial, and the clients queued behind it are dropped with the listener."""
    proxy = proxies.create(stalled.address)
    listen_port = split_listen(str(proxy["listen"]))[1]

    def view() -> tuple[int | None, int]:
        seen = listener_view(read_table(), listen_port, stalled.port)
        return seen.listen_queue, seen.to_upstream.get("SYN-SENT", 0)

    first = connect(str(proxy["listen"]))
    second = connect(str(proxy["listen"]))  # completed by the kernel, never accepted
    with first, second:
        started = time.monotonic()
        wait_for(lambda: view() == (1, 1), 2.0, "one dial in SYN-SENT and one client queued")
        disabling: list[float] = []

        def disable() -> None:
            with httpx.Client(base_url=str(api.base_url), timeout=30) as slow:
                assert slow.post(f"/proxies/{proxy['name']}", json={"enabled": False}).is_success
            disabling.append(time.monotonic())

        worker = threading.Thread(target=disable, daemon=True)
        worker.start()
        time.sleep(2.2)  # longer than any dial timeout a proxy would set
        assert view()[1] == 1, "the dial gave up"
        assert not disabling, "the proxy stopped while its dial hung"
        first.setblocking(False)
        with pytest.raises(BlockingIOError):
            first.recv(1)  # still open: the proxy did not give up on it either
        stalled.serve()  # room again: the kernel's next SYN retry completes the dial
        worker.join(timeout=15)
        assert disabling, "disabling did not return once the dial completed"
        assert disabling[0] - started >= 2.2
        second.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert second.recv(10) == b""  # dropped with the listener, never dialled
    # The filler, and the one client the proxy dialled for (accepted on the listener's thread).
    wait_for(lambda: len(stalled.accepted) >= 2, 3.0, "the dialled connection accepted")
    time.sleep(0.2)
    assert len(stalled.accepted) == 2


def test_a_refused_dial_does_not_hold_up_the_next_client(
    api: httpx.Client, proxies: Proxies
) -> None:
    """Real: a dial that fails at once (connection refused) closes that client and the loop goes
    on accepting (proxy.go server: `client.Close(); continue`)."""
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead = f"127.0.0.1:{placeholder.getsockname()[1]}"
    proxy = proxies.create(dead)
    started = time.monotonic()
    for _ in range(20):
        with connect(str(proxy["listen"])) as client, contextlib.suppress(ConnectionResetError):
            assert client.recv(10) == b""
    assert time.monotonic() - started < 3.0
