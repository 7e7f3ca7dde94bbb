"""What a Toxiproxy adds: latency per round trip (kept-alive and new connections), latency toxic
accuracy, throughput, concurrency.

Runs against the embedded server (in its own process, as users run it) and, side by side, a real
toxiproxy-server when one is on PATH or in $TOXIPROXY_SERVER_BIN. The upstream is a separate
process too, so client, proxy and upstream never share an interpreter.

Run: python -m runner.bench.proxy
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from tabulate import tabulate

from runner.errors import EnvironmentProblem
from runner.faults.toxiproxy import ToxiproxyControl, find_toxiproxy_server, start_toxiproxy
from runner.percentile import percentile
from runner.reference.toxiproxy.addresses import split_host_port

MESSAGE_SIZE = 1024
ECHO_MODE = b"E"
BULK_MODE = b"B"
IO_TIMEOUT_S = 30.0

Target = TypeVar("Target")  # what one measurement is taken on: a socket or a host:port

TARGETS = {
    "added_p50_ms": "<= 0.5",
    "added_p99_ms": "<= 2",
    "new_connection_added_p50_ms": "<= the real server's",
    "new_connection_added_p99_ms": "<= the real server's",
    "latency_200ms_median": "200 +- 10",
    "throughput_mib_s": ">= 50",
    "concurrent_errors": "0 of 100",
}


# -- upstream: echo (1 KiB request/response) and bulk (send N bytes, close) ------------------------


class _UpstreamProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.mode = b""
        self.header = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.mode == ECHO_MODE:
            self.transport.write(data)
            return
        self.header += data
        if self.header[:1] == ECHO_MODE:
            self.mode = ECHO_MODE
            if len(self.header) > 1:
                self.transport.write(self.header[1:])
        elif self.header[:1] == BULK_MODE and len(self.header) >= 9:
            self.mode = BULK_MODE
            asyncio.get_running_loop().create_task(
                self._send_bulk(int.from_bytes(self.header[1:9], "big"))
            )

    async def _send_bulk(self, size: int) -> None:
        assert self.transport is not None
        block = bytes(256 * 1024)
        sent = 0
        while sent < size and not self.transport.is_closing():
            part = block[: min(len(block), size - sent)]
            self.transport.write(part)
            sent += len(part)
            while self.transport.get_write_buffer_size() > 4 * len(block):
                await asyncio.sleep(0.0005)
        self.transport.close()


def _upstream_main(port_out: Any, stop: Any) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_UpstreamProtocol, "127.0.0.1", 0)
        port_out.send(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.close()

    asyncio.run(main())


@contextlib.contextmanager
def upstream_process() -> Iterator[str]:
    """The echo/bulk upstream in a child process; yields its host:port."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    process = ctx.Process(target=_upstream_main, args=(send, stop), daemon=True)
    process.start()
    try:
        deadline = time.monotonic() + 15
        while not receive.poll(0.1):
            if not process.is_alive() or time.monotonic() > deadline:
                raise EnvironmentProblem("bench upstream did not start within 15 s")
        yield f"127.0.0.1:{receive.recv()}"
    finally:
        stop.set()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
        receive.close()
        send.close()


# -- the servers under test ------------------------------------------------------------------------


@contextlib.contextmanager
def embedded_process() -> Iterator[tuple[str, str]]:
    """`mkdrill serve toxiproxy` as a child process on a free port; yields (url, kind)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "toxiproxy", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            line = process.stdout.readline() if selector.select(15) else ""
        match = re.search(r"http://\S+", line)
        if match is None:
            raise EnvironmentProblem(
                f"embedded toxiproxy did not start: {line.strip() or 'no output'}"
            )
        yield match.group(0), "embedded"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


@contextlib.contextmanager
def real_server(binary: str | None = None) -> Iterator[tuple[str, str]]:
    """A real toxiproxy-server (`binary`, else the one found) on a free port; yields (url, kind)."""
    with start_toxiproxy(prefer_real=True, binary=binary) as handle:
        yield handle.url, handle.kind


# -- measurements ----------------------------------------------------------------------------------


def _connect(host_port: str) -> socket.socket:
    sock = socket.create_connection(split_host_port(host_port), timeout=IO_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = sock.recv(remaining)
        if not part:
            raise ConnectionError(f"closed after {size - remaining} of {size} bytes")
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _exchange(sock: socket.socket, payload: bytes) -> float:
    started = time.perf_counter()
    sock.sendall(payload)
    if _recv_exactly(sock, MESSAGE_SIZE) != payload:
        raise ConnectionError("echo answered other bytes")
    return (time.perf_counter() - started) * 1000


def paced(count: int, rate_per_s: float) -> Iterator[int]:
    """0 to count-1, each index yielded no sooner than index / rate_per_s after the first."""
    next_at = time.perf_counter()
    for index in range(count):
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        next_at += 1.0 / rate_per_s
        yield index


def alternated(
    count: int,
    rate_per_s: float,
    measure: Callable[[Target], float],
    direct: Target,
    proxied: Target,
) -> tuple[list[float], list[float]]:
    """`count` pairs of `measure` on `direct` and on `proxied` back to back, `rate_per_s` pairs a
    second, the proxied one first in even pairs and second in odd ones; (direct, proxied)."""
    direct_ms: list[float] = []
    proxied_ms: list[float] = []
    for index in paced(count, rate_per_s):
        if index % 2:
            direct_ms.append(measure(direct))
            proxied_ms.append(measure(proxied))
        else:
            proxied_ms.append(measure(proxied))
            direct_ms.append(measure(direct))
    return direct_ms, proxied_ms


def round_trips(host_port: str, count: int, rate_per_s: float) -> list[float]:
    """`count` 1 KiB request/response round trips on one connection, paced; milliseconds each."""
    payload = os.urandom(MESSAGE_SIZE)
    with _connect(host_port) as sock:
        sock.sendall(ECHO_MODE)
        return [_exchange(sock, payload) for _ in paced(count, rate_per_s)]


def paired_round_trips(
    direct: str, proxied: str, count: int, rate_per_s: float
) -> tuple[list[float], list[float]]:
    """Round trips direct and through the proxy back to back, `rate_per_s` pairs a second, so both
    paths see the same machine load; milliseconds each, (direct, proxied)."""
    payload = os.urandom(MESSAGE_SIZE)
    with _connect(direct) as direct_sock, _connect(proxied) as proxied_sock:
        direct_sock.sendall(ECHO_MODE)
        proxied_sock.sendall(ECHO_MODE)
        return alternated(
            count, rate_per_s, partial(_exchange, payload=payload), direct_sock, proxied_sock
        )


def _fresh_exchange(host_port: str, payload: bytes) -> float:
    """Connect, one 1 KiB round trip, in milliseconds from the connect to the last byte back."""
    started = time.perf_counter()
    with _connect(host_port) as sock:
        sock.sendall(ECHO_MODE + payload)
        if _recv_exactly(sock, MESSAGE_SIZE) != payload:
            raise ConnectionError("echo answered other bytes")
        return (time.perf_counter() - started) * 1000


def paired_new_connections(
    direct: str, proxied: str, count: int, rate_per_s: float
) -> tuple[list[float], list[float]]:
    """A new connection per round trip, direct and through the proxy back to back (alternating which
    goes first), `rate_per_s` pairs a second; milliseconds each, (direct, proxied). A client that
    opens a connection per call (as the reference consumer does) pays the proxy's accept and its
    dial of the upstream on every call."""
    payload = os.urandom(MESSAGE_SIZE)
    return alternated(count, rate_per_s, partial(_fresh_exchange, payload=payload), direct, proxied)


def bulk_throughput(host_port: str, size: int) -> float:
    """MiB/s of `size` bytes sent by the upstream and read to the end by the client."""
    with _connect(host_port) as sock:
        sock.sendall(BULK_MODE + size.to_bytes(8, "big"))
        started = time.perf_counter()
        received = 0
        buffer = bytearray(1024 * 1024)
        while received < size:
            got = sock.recv_into(buffer)
            if not got:
                break
            received += got
        elapsed = time.perf_counter() - started
    if received != size:
        raise ConnectionError(f"bulk transfer cut at {received} of {size} bytes")
    return size / (1024 * 1024) / elapsed


def concurrent_errors(host_port: str, connections: int, exchanges: int) -> int:
    """How many of `connections` concurrent connections failed `exchanges` round trips each."""
    host, port = split_host_port(host_port)

    async def one(index: int) -> bool:
        payload = index.to_bytes(4, "big") * (MESSAGE_SIZE // 4)
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(ECHO_MODE)
            for _ in range(exchanges):
                writer.write(payload)
                if await reader.readexactly(MESSAGE_SIZE) != payload:
                    return False
            return True
        except (OSError, asyncio.IncompleteReadError):
            return False
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def everyone() -> list[bool]:
        return await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(connections))), timeout=IO_TIMEOUT_S
        )

    return sum(1 for ok in asyncio.run(everyone()) if not ok)


def measure_proxy_overhead(
    api_url: str,
    upstream: str,
    *,
    requests: int = 1000,
    rate_per_s: float = 200.0,
    latency_samples: int = 20,
    bulk_mib: int = 256,
    connections: int = 100,
) -> dict[str, float]:
    """One server's figures: added p50/p99 ms (kept-alive and new connections), 200 ms toxic as
    seen, MiB/s, concurrent errors."""
    control = ToxiproxyControl(api_url)
    proxy = "bench"
    listen = control.ensure_proxy(proxy, "127.0.0.1:0", upstream)
    try:
        paired_round_trips(upstream, listen, 50, rate_per_s)  # warm up both paths
        direct, proxied = paired_round_trips(upstream, listen, requests, rate_per_s)
        paired_new_connections(upstream, listen, 50, rate_per_s)
        fresh_direct, fresh_proxied = paired_new_connections(upstream, listen, requests, rate_per_s)
        base = statistics.median(direct)
        undo = control.add_toxic(proxy, "latency", "downstream", {"latency": 200, "jitter": 0})
        try:
            toxic = [t - base for t in round_trips(listen, latency_samples, 20.0)]
        finally:
            undo()
        return {
            "direct_p50_ms": percentile(direct, 0.50),
            "direct_p99_ms": percentile(direct, 0.99),
            "proxied_p50_ms": percentile(proxied, 0.50),
            "proxied_p99_ms": percentile(proxied, 0.99),
            "added_p50_ms": percentile(proxied, 0.50) - percentile(direct, 0.50),
            "added_p99_ms": percentile(proxied, 0.99) - percentile(direct, 0.99),
            "new_connection_direct_p50_ms": percentile(fresh_direct, 0.50),
            "new_connection_direct_p99_ms": percentile(fresh_direct, 0.99),
            "new_connection_added_p50_ms": percentile(fresh_proxied, 0.50)
            - percentile(fresh_direct, 0.50),
            "new_connection_added_p99_ms": percentile(fresh_proxied, 0.99)
            - percentile(fresh_direct, 0.99),
            "latency_200ms_median": statistics.median(toxic),
            "latency_200ms_min": min(toxic),
            "latency_200ms_max": max(toxic),
            "direct_throughput_mib_s": bulk_throughput(upstream, bulk_mib * 1024 * 1024),
            "throughput_mib_s": bulk_throughput(listen, bulk_mib * 1024 * 1024),
            "concurrent_errors": float(concurrent_errors(listen, connections, 10)),
        }
    finally:
        control.delete_proxy(proxy)


def run_all(**options: Any) -> dict[str, dict[str, float]]:
    """Figures for the embedded server and, when one is installed, a real toxiproxy-server."""
    servers: list[Callable[[], contextlib.AbstractContextManager[tuple[str, str]]]] = [
        embedded_process
    ]
    if find_toxiproxy_server() is not None:
        servers.append(real_server)
    results: dict[str, dict[str, float]] = {}
    with upstream_process() as upstream:
        for server in servers:
            with server() as (url, kind):
                results[kind] = measure_proxy_overhead(url, upstream, **options)
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    """Servers side by side, one row per figure, with the target where there is one."""
    kinds = list(results)
    names = list(next(iter(results.values())))
    rows = [
        [name, *(f"{results[kind][name]:.3f}" for kind in kinds), TARGETS.get(name, "")]
        for name in names
    ]
    return tabulate(rows, headers=["figure", *kinds, "target"], tablefmt="github")


if __name__ == "__main__":
    print(table(run_all()))
