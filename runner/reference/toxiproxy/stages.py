"""Toxic stages: what each toxic does to the bytes of one direction of one connection.

A stage holds a queue of chunks; its task works on the chunk at the head of the queue and removes
it only once it has been passed on, so interrupting a stage (toxic updated or removed) never loses
or reorders data. An inactive stage (its toxicity roll failed) passes chunks straight through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import random
from collections import deque
from typing import Protocol

from runner.reference.toxiproxy.toxics import Toxic


class End(enum.Enum):
    """How a stream ends: a normal close (FIN) or a reset (RST)."""

    CLOSE = "close"
    RESET = "reset"


@dataclasses.dataclass(slots=True)
class Chunk:
    """Bytes read from a socket, stamped with their arrival (loop time); or the stream's end."""

    data: bytes
    stamp: float
    end: End | None = None


class Receiver(Protocol):
    """Whatever takes chunks next: another stage or the socket at the end of the link."""

    def push(self, chunk: Chunk) -> None: ...


class Backlog(Protocol):
    """The link's count of bytes held in stages, which drives back-pressure on the source socket."""

    def grow(self, size: int) -> None: ...

    def shrink(self, size: int) -> None: ...


class Stage:
    """One toxic on one link. Subclasses implement run(); pass-through toxics need not."""

    def __init__(self, toxic: Toxic, backlog: Backlog, output: Receiver) -> None:
        self.toxic = toxic
        self.output = output
        self.queue: deque[Chunk] = deque()
        self.active = False
        self.closed = False
        self._backlog = backlog
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Roll the toxicity (as Toxiproxy does each time a toxic starts on a link) and run."""
        self.active = random.random() < self.toxic.toxicity
        if self.active:
            self._task = asyncio.get_running_loop().create_task(self.run())
        else:
            self.flush()

    def interrupt(self) -> None:
        """Stop working; whatever is queued stays queued."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.cancel()
        self._wakeup = None

    def restart(self, toxic: Toxic) -> None:
        """Carry on with new attributes (toxic updated), keeping queued data and per-link state."""
        self.interrupt()
        self.toxic = toxic
        if not self.closed:
            self.start()

    def removed(self) -> None:
        """The toxic was removed (already unlinked, `output` is what follows): pass its data on."""
        self.flush()

    def flush(self) -> None:
        """Pass every queued chunk on, in order (toxic removed or turned inactive)."""
        while self.queue and not self.closed:
            self.output.push(self._take())

    # data flow ------------------------------------------------------------------------------------

    def push(self, chunk: Chunk) -> None:
        """Take a chunk from the previous stage."""
        if self.closed:
            return
        if not self.active:
            self.output.push(chunk)
            return
        self.queue.append(chunk)
        self._backlog.grow(len(chunk.data))
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def run(self) -> None:
        """The toxic's behaviour; the default passes everything through."""
        while True:
            await self._head()
            self._forward()

    async def _head(self) -> Chunk:
        while not self.queue:
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        self._wakeup = None
        return self.queue[0]

    def _take(self) -> Chunk:
        chunk = self.queue.popleft()
        self._backlog.shrink(len(chunk.data))
        return chunk

    def _forward(self) -> None:
        self.output.push(self._take())

    def _forward_part(self, size: int) -> None:
        """Pass on the first `size` bytes of the head chunk; the rest stays at the head."""
        head = self.queue[0]
        part, head.data = head.data[:size], head.data[size:]
        self._backlog.shrink(len(part))
        self.output.push(Chunk(part, head.stamp))

    def _end(self, end: End) -> None:
        """Close the stream here: queued data is dropped, later stages see the end."""
        self.closed = True
        while self.queue:
            self._take()
        self.output.push(Chunk(b"", asyncio.get_running_loop().time(), end))


async def _sleep(milliseconds: float) -> None:
    await asyncio.sleep(max(0.0, milliseconds) / 1000.0)


class NoopStage(Stage):
    """noop: passes everything through (Toxiproxy's hidden first toxic, also addable)."""

    def start(self) -> None:
        self.active = False
        self.flush()


class LatencyStage(Stage):
    """latency: each chunk leaves `latency` ± `jitter` ms after it arrived."""

    def _delay_ms(self) -> float:
        latency, jitter = self.toxic.attribute("latency"), self.toxic.attribute("jitter")
        if jitter > 0:
            return float(latency + random.randrange(2 * jitter) - jitter)
        return float(latency)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await self._head()
            if chunk.end is None:
                wait = self._delay_ms() / 1000.0 - (loop.time() - chunk.stamp)
                if wait > 0:
                    await asyncio.sleep(wait)
                    chunk.stamp += wait
            self._forward()
            if chunk.end is not None:
                return


class BandwidthStage(Stage):
    """bandwidth: at most `rate` KB/s (1 KB = 1000 bytes), large chunks sent in 100 ms slices."""

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        owed = 0.0  # seconds of sending time not yet slept
        while True:
            chunk = await self._head()
            rate = self.toxic.attribute("rate")
            if chunk.end is not None or rate <= 0:
                owed = 0.0
                self._forward()
                if chunk.end is not None:
                    return
                continue
            owed += len(chunk.data) / (rate * 1000.0)
            slice_size = rate * 100
            while len(chunk.data) > slice_size:
                await asyncio.sleep(0.1)
                self._forward_part(slice_size)
                owed -= 0.1
            started = loop.time()
            if owed > 0:
                await asyncio.sleep(owed)
            owed -= loop.time() - started
            self._forward()


class SlowCloseStage(Stage):
    """slow_close: data passes; the close is held back `delay` ms."""

    async def run(self) -> None:
        while True:
            chunk = await self._head()
            if chunk.end is not None:
                await _sleep(self.toxic.attribute("delay"))
                self._forward()
                return
            self._forward()


class TimeoutStage(Stage):
    """timeout: data is dropped while it is on; `timeout` ms after the last chunk (or the start)
    the stream closes (0: never). Removing the toxic closes the stream too (Toxiproxy's Cleanup),
    whether or not its toxicity roll made it active on this connection."""

    async def run(self) -> None:
        timeout = self.toxic.attribute("timeout")
        while True:
            try:
                # Toxiproxy's select starts a new time.After on every pass: each chunk resets it.
                async with asyncio.timeout(timeout / 1000.0 if timeout > 0 else None):
                    chunk = await self._head()
            except TimeoutError:
                self._end(End.CLOSE)
                return
            self._take()  # dropped on the ground
            if chunk.end is not None:
                self._end(End.CLOSE)
                return

    def removed(self) -> None:
        self._end(End.CLOSE)


class ResetPeerStage(Stage):
    """reset_peer: on the first data (or close), wait `timeout` ms, then reset the connection."""

    async def run(self) -> None:
        await self._head()
        await _sleep(self.toxic.attribute("timeout"))
        self._end(End.RESET)


class SlicerStage(Stage):
    """slicer: each chunk goes out in pieces of about `average_size` ± `size_variation` bytes,
    `delay` microseconds apart."""

    def _pieces(self, size: int) -> list[int]:
        average = max(1, self.toxic.attribute("average_size"))
        variation = max(0, self.toxic.attribute("size_variation"))
        cuts: list[int] = []
        pending = [(0, size)]
        while pending:
            start, end = pending.pop()
            if (end - start) - average <= variation:
                cuts.append(end - start)
                continue
            # Split near the middle, varied, as Toxiproxy's recursive chunker does; keep both halves
            # non-empty where Toxiproxy's would go out of range.
            shift = random.randrange(2 * variation) - variation if variation else 0
            middle = min(end - 1, max(start + 1, start + (end - start) // 2 + shift))
            pending.append((middle, end))
            pending.append((start, middle))
        return cuts

    async def run(self) -> None:
        while True:
            chunk = await self._head()
            if chunk.end is not None:
                self._forward()
                return
            pieces = self._pieces(len(chunk.data))
            for index, piece in enumerate(pieces):
                if index == len(pieces) - 1:
                    self._forward()
                else:
                    self._forward_part(piece)
                await asyncio.sleep(self.toxic.attribute("delay") / 1_000_000)


class LimitDataStage(Stage):
    """limit_data: close the stream once `bytes` bytes have passed (counted across updates)."""

    def __init__(self, toxic: Toxic, backlog: Backlog, output: Receiver) -> None:
        super().__init__(toxic, backlog, output)
        self.transmitted = 0

    async def run(self) -> None:
        while True:
            chunk = await self._head()
            if chunk.end is not None:
                self._forward()
                return
            remaining = max(0, self.toxic.attribute("bytes") - self.transmitted)
            if remaining < len(chunk.data):
                if remaining:
                    self._forward_part(remaining)
                self._take()  # the rest never passes
                self.transmitted += remaining
            else:
                self.transmitted += len(chunk.data)
                self._forward()
            if self.toxic.attribute("bytes") - self.transmitted <= 0:
                self._end(End.CLOSE)
                return


STAGES: dict[str, type[Stage]] = {
    "noop": NoopStage,
    "latency": LatencyStage,
    "bandwidth": BandwidthStage,
    "slow_close": SlowCloseStage,
    "timeout": TimeoutStage,
    "reset_peer": ResetPeerStage,
    "slicer": SlicerStage,
    "limit_data": LimitDataStage,
}


def make_stage(toxic: Toxic, backlog: Backlog, output: Receiver) -> Stage:
    """The stage for a toxic's type."""
    return STAGES[toxic.type](toxic, backlog, output)
