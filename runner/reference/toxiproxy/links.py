"""One proxied TCP connection: the client socket, the upstream socket, and a link each way.

A link reads one socket and writes the other through its chain of toxic stages. With no toxics the
bytes go straight from data_received to write(), which is what keeps the proxy's own cost small.
As in Toxiproxy, the end of either direction closes both sockets (no half-close).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
import struct
from typing import Any, Protocol, cast

from runner.reference.toxiproxy.pipes import READ_SIZE, Pipe, set_nodelay
from runner.reference.toxiproxy.stages import Chunk, End, Stage, make_stage
from runner.reference.toxiproxy.toxics import Direction, Toxic

logger = logging.getLogger(__name__)

# Bytes held inside toxic stages before the source socket stops being read (TCP back-pressure).
BACKLOG_HIGH = 4 * 1024 * 1024
BACKLOG_LOW = BACKLOG_HIGH // 2
# asyncio write buffer above which the other side stops being read.
WRITE_BUFFER_HIGH = 512 * 1024


class ConnectionOwner(Protocol):
    """What a connection needs from its proxy."""

    def toxics_for(self, direction: Direction) -> list[Toxic]: ...

    def connection_opened(self, connection: Connection) -> None: ...

    def connection_closed(self, connection: Connection) -> None: ...


class Carrier(Protocol):
    """What a link reads and writes: an asyncio transport or a Pipe."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...


class Side(enum.Enum):
    """Which socket of a proxied connection."""

    CLIENT = "client"
    UPSTREAM = "upstream"


class Link:
    """Bytes one way: read from `source`, passed through the stages, written to `dest`."""

    def __init__(
        self,
        connection: Connection,
        source: Carrier,
        dest: Carrier,
        toxics: list[Toxic],
    ) -> None:
        self.connection: Connection | None = connection
        self.source = source
        self.dest = dest
        self.stages: list[Stage] = []
        self.done = False
        self._loop = asyncio.get_running_loop()
        self._eof = False
        self._queued = 0
        self._pauses: set[str] = set()
        for toxic in toxics:
            self.add_toxic(toxic)

    # bytes in -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes read from the source socket."""
        if self.done:
            return
        if self.stages:
            self.stages[0].push(Chunk(data, self._loop.time()))
        else:
            self.dest.write(data)

    def feed_eof(self) -> None:
        """The source socket ended; the end travels behind the data still in the stages."""
        if self.done or self._eof:
            return
        self._eof = True
        head: Stage | Link = self.stages[0] if self.stages else self
        head.push(Chunk(b"", self._loop.time(), End.CLOSE))

    def push(self, chunk: Chunk) -> None:
        """The end of the chain: a chunk out of the last stage to the destination socket."""
        if self.done:
            return
        if chunk.end is None:
            if chunk.data:
                self.dest.write(chunk.data)
        elif chunk.end is End.CLOSE:
            self.finish()
            self.dest.close()  # flushes what is buffered, then FIN
        elif self.connection is not None:
            self.connection.reset()

    # toxics on a live link ------------------------------------------------------------------------

    def add_toxic(self, toxic: Toxic) -> None:
        """Append a stage; data already past the old end of the chain is not affected."""
        if self.done:
            return
        stage = make_stage(toxic, self, self)
        if self.stages:
            self.stages[-1].output = stage
        self.stages.append(stage)
        stage.start()

    def update_toxic(self, toxic: Toxic) -> None:
        """Restart the toxic's stage with new attributes, keeping what it holds."""
        for stage in self.stages:
            if stage.toxic.name == toxic.name:
                stage.restart(toxic)

    def remove_toxic(self, name: str) -> None:
        """Drop the toxic's stage; what it held moves on at once, in order (or, for a toxic that
        cleans up as timeout does, the stream ends there)."""
        index = next((i for i, s in enumerate(self.stages) if s.toxic.name == name), None)
        if index is None:
            return
        stage = self.stages[index]
        stage.interrupt()
        del self.stages[index]
        following: Stage | Link = self.stages[index] if index < len(self.stages) else self
        if index > 0:
            self.stages[index - 1].output = following
        stage.output = following
        stage.removed()

    # back-pressure --------------------------------------------------------------------------------

    def grow(self, size: int) -> None:
        """Bytes entered a stage queue."""
        self._queued += size
        if self._queued > BACKLOG_HIGH:
            self.pause("backlog")

    def shrink(self, size: int) -> None:
        """Bytes left a stage queue."""
        self._queued -= size
        if self._queued <= BACKLOG_LOW:
            self.resume("backlog")

    def pause(self, reason: str) -> None:
        """Stop reading the source for a reason (destination full, stages full)."""
        if not self._pauses and not self.done:
            self.source.pause_reading()
        self._pauses.add(reason)

    def resume(self, reason: str) -> None:
        """Read the source again once no reason to pause is left."""
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        if not self._pauses and not self.done:
            self.source.resume_reading()

    # the end --------------------------------------------------------------------------------------

    def finish(self) -> None:
        """The destination is closed or gone: stop every stage."""
        if self.done:
            return
        self.done = True
        for stage in self.stages:
            stage.interrupt()
            stage.closed = True


class _SideProtocol(asyncio.Protocol):
    """asyncio callbacks of one socket, forwarded to the links that read and write it."""

    def __init__(self, connection: Connection, side: Side) -> None:
        self.connection: Connection | None = connection  # None once the connection is finished
        self.side = side
        self.reading: Link | None = None
        self.writing: Link | None = None
        # Bytes that arrive before the links exist (one side's transport is made before the
        # other's); they are fed to the link as soon as it is made, in order.
        self.early: list[bytes] = []
        self.early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.connection is not None:
            self.connection.side_made(self.side, cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        if self.reading is not None:
            self.reading.feed(data)
        else:
            self.early.append(data)

    def eof_received(self) -> bool:
        if self.reading is None:
            self.early_eof = True
            return True
        self.reading.feed_eof()
        return True  # keep the socket open: the other direction may still be writing to it

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection is not None:
            self.connection.side_lost(self.side)

    def pause_writing(self) -> None:
        if self.writing is not None:
            self.writing.pause("destination")

    def resume_writing(self) -> None:
        if self.writing is not None:
            self.writing.resume("destination")


def _linger_zero(carrier: Carrier) -> None:
    sock = carrier.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def forward_first(client: socket.socket, upstream: socket.socket) -> None:
    """Send the upstream at once what the client has sent so far (both sockets non-blocking).

    Only what the upstream took is taken from the client; the rest, the client's end, or an error
    stays for the client's link to read as it would have.
    """
    try:
        data = client.recv(READ_SIZE, socket.MSG_PEEK)
        if data:
            client.recv(upstream.send(data))
    except OSError:
        return


class Connection:
    """A client accepted by a proxy, its upstream connection, and the two links between them.

    The proxy's accept loop dials the upstream before the connection exists (as Toxiproxy does);
    `open_now` (or `open`) then puts both connected sockets on the loop and links them. Once both
    sockets are gone the parts let go of each other, so the connection is freed at once rather
    than left to the garbage collector.
    """

    def __init__(self, owner: ConnectionOwner) -> None:
        self.owner = owner
        self.client_protocol = _SideProtocol(self, Side.CLIENT)
        self.upstream_protocol = _SideProtocol(self, Side.UPSTREAM)
        self.client: Carrier | None = None
        self.upstream: Carrier | None = None
        self.links: dict[Direction, Link] = {}
        self.closed = False
        self._lost: set[Side] = set()

    def open_now(self, client: socket.socket, upstream: socket.socket) -> bool:
        """Link both sockets in the accept loop's own step and forward the client's first bytes
        there too (already queued, as a client sends right after connecting); False: use `open`.

        On the selector event loop each socket becomes a Pipe, read from the moment it is made,
        where an asyncio transport would start reading two loop turns later.
        """
        loop = asyncio.get_running_loop()
        if not isinstance(loop, asyncio.SelectorEventLoop):  # e.g. Windows' proactor: awaited way
            return False
        set_nodelay(client)
        set_nodelay(upstream)
        upstream_pipe = Pipe(loop, upstream, self.upstream_protocol)
        client_pipe = Pipe(loop, client, self.client_protocol)
        self.side_made(Side.UPSTREAM, upstream_pipe)
        self.side_made(Side.CLIENT, client_pipe)
        client_pipe.start()  # its first bytes go to the upstream before anything else is done
        upstream_pipe.start()
        return True

    async def open(self, client: socket.socket, upstream: socket.socket) -> None:
        """Make transports of the accepted client and the dialled upstream; links follow."""
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.upstream_protocol, sock=upstream)
        except BaseException:  # also cancelled by a stop: the raw sockets are ours to close
            client.close()
            upstream.close()
            raise
        try:
            await loop.connect_accepted_socket(lambda: self.client_protocol, sock=client)
        except BaseException:
            client.close()
            self.close()
            raise

    # socket events --------------------------------------------------------------------------------

    def side_made(self, side: Side, transport: Carrier) -> None:
        """A socket became a transport; once both are, the links start."""
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        if side is Side.CLIENT:
            self.client = transport
        else:
            self.upstream = transport
        if self.closed:
            transport.abort()
            return
        if self.client is not None and self.upstream is not None:
            self._make_links(self.client, self.upstream)

    def side_lost(self, side: Side) -> None:
        """A socket is gone: its reader sees the end, its writer stops."""
        self._lost.add(side)
        protocol = self.client_protocol if side is Side.CLIENT else self.upstream_protocol
        if protocol.reading is not None:
            protocol.reading.feed_eof()
        if protocol.writing is not None:
            protocol.writing.finish()
        if not self.links:  # gone before the other side's transport existed
            self.close()
        made = {s for s, t in ((Side.CLIENT, self.client), (Side.UPSTREAM, self.upstream)) if t}
        if made <= self._lost:
            self._finished()

    def _make_links(self, client: Carrier, upstream: Carrier) -> None:
        up = Link(self, client, upstream, self.owner.toxics_for(Direction.UPSTREAM))
        down = Link(self, upstream, client, self.owner.toxics_for(Direction.DOWNSTREAM))
        self.links = {Direction.UPSTREAM: up, Direction.DOWNSTREAM: down}
        self.client_protocol.reading, self.client_protocol.writing = up, down
        self.upstream_protocol.reading, self.upstream_protocol.writing = down, up
        for protocol, link in ((self.client_protocol, up), (self.upstream_protocol, down)):
            early, protocol.early = protocol.early, []
            for data in early:
                link.feed(data)
            if protocol.early_eof:
                link.feed_eof()

    # toxics ---------------------------------------------------------------------------------------

    def add_toxic(self, toxic: Toxic) -> None:
        """A toxic added to the proxy reaches this live connection."""
        link = self.links.get(toxic.direction)
        if link is not None:
            link.add_toxic(toxic)

    def update_toxic(self, toxic: Toxic) -> None:
        """A toxic updated on the proxy."""
        link = self.links.get(toxic.direction)
        if link is not None:
            link.update_toxic(toxic)

    def remove_toxic(self, toxic: Toxic) -> None:
        """A toxic removed from the proxy."""
        link = self.links.get(toxic.direction)
        if link is not None:
            link.remove_toxic(toxic.name)

    # ending ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop both sockets at once (proxy disabled, changed or deleted)."""
        self.closed = True
        for link in self.links.values():
            link.finish()
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.abort()

    def reset(self) -> None:
        """Reset both sockets (RST), as reset_peer does."""
        self.closed = True
        for link in self.links.values():
            link.finish()
        for transport in (self.client, self.upstream):
            if transport is not None:
                _linger_zero(transport)
                transport.abort()

    def _finished(self) -> None:
        self.closed = True
        for link in self.links.values():
            link.finish()
        self.owner.connection_closed(self)
        self._let_go()

    def _let_go(self) -> None:
        """Drop the references between protocols, links and this connection (no cycles left)."""
        for protocol in (self.client_protocol, self.upstream_protocol):
            protocol.connection = protocol.reading = protocol.writing = None
        for link in self.links.values():
            link.connection = None
            link.stages = []
        self.links = {}
        self.client = self.upstream = None
