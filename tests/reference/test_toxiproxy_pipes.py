"""The embedded Toxiproxy's Pipe: what the socket does not take is buffered, the protocol paused
above the high mark and resumed when drained; close sends everything, then the end."""

from __future__ import annotations

import asyncio
import socket

from runner.reference.toxiproxy.pipes import Pipe


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.data = b""
        self.lost = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.events.append("eof")
        return True

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set()


def test_a_full_socket_buffers_pauses_and_close_delivers_everything() -> None:
    payload = bytes(range(256)) * 40_000  # 10 MB: more than two socket buffers hold

    async def scenario() -> tuple[bytes, list[str], list[str]]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        protocol = Recorder()
        pipe = Pipe(loop, ours, protocol)
        pipe.set_write_buffer_limits(high=64 * 1024)
        pipe.start()
        pipe.write(payload)
        assert pipe.get_write_buffer_size() > 0
        pipe.close()
        received = bytearray()
        while True:
            part = await loop.sock_recv(theirs, 1 << 20)
            if not part:
                break
            received += part
        await protocol.lost.wait()
        theirs.close()
        return bytes(received), protocol.events, ["closing" if pipe.is_closing() else "open"]

    received, events, state = asyncio.run(scenario())
    assert received == payload
    assert events == ["pause", "resume", "lost"]
    assert state == ["closing"]


def test_bytes_already_queued_are_read_by_start_and_the_end_is_reported() -> None:
    async def scenario() -> tuple[bytes, list[str]]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.sendall(b"first")
        protocol = Recorder()
        pipe = Pipe(loop, ours, protocol)
        pipe.start()
        read_at_start = protocol.data
        theirs.close()
        while "eof" not in protocol.events:
            await asyncio.sleep(0.001)
        pipe.abort()
        await protocol.lost.wait()
        return read_at_start, protocol.events

    read_at_start, events = asyncio.run(scenario())
    assert read_at_start == b"first"
    assert events == ["eof", "lost"]


def test_a_read_asks_for_less_than_glibcs_mmap_threshold() -> None:
    """CPython allocates the whole requested size before recv: at 128 KiB and above glibc maps
    and remaps memory for every read, which costs a 1 KiB round trip tens of microseconds."""
    asked: list[int] = []

    class CountingSocket:
        def fileno(self) -> int:
            return -1

        def recv(self, size: int) -> bytes:
            asked.append(size)
            raise BlockingIOError

    async def scenario() -> None:
        pipe = Pipe(asyncio.get_running_loop(), CountingSocket(), Recorder())  # type: ignore[arg-type]
        pipe._reading = True  # as if registered: read_ready is what the loop calls
        pipe.read_ready()

    asyncio.run(scenario())
    assert asked and all(size < 128 * 1024 for size in asked)
