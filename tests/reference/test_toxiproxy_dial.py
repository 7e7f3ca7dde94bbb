"""The embedded Toxiproxy's dial: done at once for a loopback upstream, left in progress otherwise."""

from __future__ import annotations

import asyncio
import socket

import pytest

from runner.reference.toxiproxy.addresses import DialPending, dial_at_once, finish_dial
from tests.conformance.netutil import StalledListener


def test_a_listening_loopback_upstream_is_dialled_at_once() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sock = dial_at_once(f"127.0.0.1:{port}")
        assert sock is not None
        with sock:
            accepted, _ = listener.accept()
            with accepted:
                sock.sendall(b"x")
                assert accepted.recv(1) == b"x"


def test_a_refusing_upstream_is_none() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    assert dial_at_once(f"127.0.0.1:{port}") is None


def test_a_name_is_left_to_the_awaited_dial() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(DialPending) as pending:
            dial_at_once(f"localhost:{port}")
        assert pending.value.sock is None

        async def finish() -> socket.socket | None:
            return await finish_dial(f"localhost:{port}", pending.value)

        sock = asyncio.run(finish())
        assert sock is not None
        sock.close()


def test_a_connect_in_progress_is_handed_over_not_started_again() -> None:
    """An upstream whose listen queue is full drops the SYN: the one connect started is the one the
    proxy then waits for (a second SYN would be a second dial Toxiproxy never makes)."""
    stalled = StalledListener()
    try:
        with pytest.raises(DialPending) as pending:
            dial_at_once(stalled.address)
        sock = pending.value.sock
        assert sock is not None and pending.value.resolved is not None
        with sock:
            stalled.serve()  # room again: the kernel's SYN retry completes this very connect

            async def finish() -> socket.socket | None:
                return await finish_dial(stalled.address, pending.value)

            assert asyncio.run(asyncio.wait_for(finish(), 10)) is sock
    finally:
        stalled.close()
