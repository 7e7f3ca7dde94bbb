"""A proxied socket on the selector event loop: the part of asyncio's socket transport a link uses.

asyncio's transport starts reading one loop turn after it is made (connection_made and the reader
are scheduled with call_soon) and keeps a bound method of itself, a reference cycle that leaves
each closed connection to the garbage collector. A pipe is read from the moment it is made (the
accept loop reads a client's first bytes in the step that accepted it), and once closed it
holds nothing, so a finished connection is freed at once and collections stay rare and short.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

# Bytes asked for per recv. CPython allocates the whole size before it reads: asyncio's 256 KiB is
# above glibc's mmap threshold, an mmap and an mremap per read (about 30 µs for a 1 KiB message);
# 64 KiB comes from the heap (about 2 µs). Go's io.Copy, which Toxiproxy's links use, reads 32 KiB.
READ_SIZE = 64 * 1024


def set_nodelay(sock: socket.socket) -> None:
    """Small writes go out at once (Go's TCP connections and asyncio's transports do the same)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Pipe:
    """One connected non-blocking socket: reads go to `protocol`, writes are buffered when the
    socket is full, `close` flushes then closes, `abort` closes at once.

    The protocol's callbacks are asyncio.Protocol's: data_received, eof_received (True keeps the
    socket open for writing), pause_writing/resume_writing, and connection_lost, which is called
    in a later loop step, as asyncio does.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol
    ) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._protocol: asyncio.Protocol | None = protocol
        self._buffer = bytearray()
        self._high = 64 * 1024
        self._low = self._high // 4
        self._reading = False  # the reader is registered
        self._paused = False  # pause_reading() was called
        self._eof = False  # the socket's end was read
        self._writing_paused = False
        self._closing = False
        self._lost = False

    # what a link calls ----------------------------------------------------------------------------

    def start(self) -> None:
        """Read what is already there, then whenever more arrives."""
        self._set_reading(True)
        self.read_ready()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """ "socket" is the socket while the pipe is open (asyncio's name for it)."""
        return self._sock if name == "socket" and self._sock is not None else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Above `high` buffered bytes the protocol is paused, at `low` resumed (asyncio's rule)."""
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low

    def get_write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return len(self._buffer)

    def is_closing(self) -> bool:
        """True once close or abort was called, or the socket failed."""
        return self._closing or self._lost

    def pause_reading(self) -> None:
        """Stop reading until resume_reading."""
        self._paused = True
        self._set_reading(False)

    def resume_reading(self) -> None:
        """Read again."""
        self._paused = False
        self._set_reading(True)

    def write(self, data: bytes) -> None:
        """Send now what the socket takes; the rest waits in the buffer for it to drain."""
        sock = self._sock
        if sock is None or self._closing or not data:
            return
        if not self._buffer:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail(exc)
                return
            if sent == len(data):
                return
            self._loop.add_writer(self._fd, self._write_ready)
            data = data[sent:]
        self._buffer += data
        if not self._writing_paused and len(self._buffer) > self._high:
            self._writing_paused = True
            if self._protocol is not None:
                self._protocol.pause_writing()

    def close(self) -> None:
        """Stop reading, send what is buffered, then close the socket."""
        if self._closing or self._lost:
            return
        self._closing = True
        self._set_reading(False)
        if not self._buffer:
            self._lose(None)

    def abort(self) -> None:
        """Close at once, dropping what is buffered."""
        if self._lost:
            return
        self._closing = True
        self._lose(None)

    # the loop's callbacks -------------------------------------------------------------------------

    def read_ready(self) -> None:
        """The socket is readable (or may be): one recv, its bytes or its end to the protocol."""
        sock, protocol = self._sock, self._protocol
        if sock is None or protocol is None or not self._reading:
            return
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        if data:
            protocol.data_received(data)
            return
        self._eof = True
        self._set_reading(False)
        if not protocol.eof_received():
            self.close()

    def _write_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            return
        del self._buffer[:sent]
        if self._writing_paused and len(self._buffer) <= self._low:
            self._writing_paused = False
            if self._protocol is not None:
                self._protocol.resume_writing()
        if not self._buffer:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._lose(None)

    # ending ---------------------------------------------------------------------------------------

    def _set_reading(self, on: bool) -> None:
        on = on and not (self._paused or self._eof or self._closing or self._lost)
        if on == self._reading:
            return
        if on:
            self._loop.add_reader(self._fd, self.read_ready)
        else:
            self._loop.remove_reader(self._fd)
        self._reading = on

    def _fail(self, exc: OSError) -> None:
        self._closing = True
        self._lose(exc)

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._set_reading(False)
        self._loop.remove_writer(self._fd)
        self._buffer.clear()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            self._loop.call_soon(protocol.connection_lost, exc)
