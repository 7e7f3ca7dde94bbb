"""Proxy figures repeated: runner.bench.proxy's measurements, rounds alternated between the servers.

With a real toxiproxy-server beside the embedded one, both run for the whole section and every
round measures the embedded server, then the real one (the next round the other way round), so a
pair of rounds saw the same machine; each round's load is kept with its figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from runner.bench.load import LoadSpan, with_load
from runner.bench.proxy import (
    embedded_process,
    measure_proxy_overhead,
    real_server,
    upstream_process,
)
from runner.bench.stats import Figure, figure

UNITS = {
    "concurrent_errors": "connections",
    "throughput_mib_s": "MiB/s",
    "direct_throughput_mib_s": "MiB/s",
}


@dataclass(frozen=True)
class ProxyOptions:
    """How much each round measures (see measure_proxy_overhead)."""

    rounds: int
    requests: int
    rate_per_s: float
    latency_samples: int
    bulk_mib: int
    connections: int


QUICK = ProxyOptions(
    rounds=3, requests=300, rate_per_s=200.0, latency_samples=10, bulk_mib=32, connections=50
)
FULL = ProxyOptions(
    rounds=5, requests=1000, rate_per_s=200.0, latency_samples=20, bulk_mib=128, connections=100
)


@dataclass
class ProxyResults:
    """Per server kind: each figure over the rounds, and each round's load."""

    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)
    loads: dict[str, list[LoadSpan]] = field(default_factory=dict)
    real_skipped: str | None = None


def proxy_figures(
    options: ProxyOptions,
    real_binary: str | None,
    progress: Callable[[str], None] = lambda _line: None,
) -> ProxyResults:
    """The embedded server and, with `real_binary`, a real one, `options.rounds` alternated rounds."""
    servers: list[Callable[[], contextlib.AbstractContextManager[tuple[str, str]]]] = [
        embedded_process
    ]
    results = ProxyResults()
    if real_binary is not None:
        servers.append(lambda: real_server(real_binary))
    else:
        results.real_skipped = (
            "no toxiproxy-server on PATH, in $TOXIPROXY_SERVER_BIN or --toxiproxy-server"
        )
    rounds: dict[str, list[dict[str, float]]] = {}
    with upstream_process() as upstream, contextlib.ExitStack() as running:
        urls = [running.enter_context(server()) for server in servers]
        for index in range(options.rounds):
            order = urls if index % 2 == 0 else list(reversed(urls))
            for url, kind in order:
                measured, load = with_load(
                    partial(
                        measure_proxy_overhead,
                        url,
                        upstream,
                        requests=options.requests,
                        rate_per_s=options.rate_per_s,
                        latency_samples=options.latency_samples,
                        bulk_mib=options.bulk_mib,
                        connections=options.connections,
                    )
                )
                rounds.setdefault(kind, []).append(measured)
                results.loads.setdefault(kind, []).append(load)
                progress(
                    f"proxy {kind} {index + 1}/{options.rounds}: added p50 "
                    f"{measured['added_p50_ms'] * 1000:.0f} µs kept-alive, "
                    f"{measured['new_connection_added_p50_ms'] * 1000:.0f} µs new connection "
                    f"({load.describe()})"
                )
    for kind, measured_rounds in rounds.items():
        results.figures[kind] = {
            name: figure([r[name] for r in measured_rounds], UNITS.get(name, "ms"))
            for name in measured_rounds[0]
        }
    return results
