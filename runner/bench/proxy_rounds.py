"""Proxy figures repeated: runner.bench.proxy's measurements, several rounds per server, summarised."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from runner.bench.proxy import (
    embedded_process,
    measure_proxy_overhead,
    real_server,
    upstream_process,
)
from runner.bench.stats import Figure, figure
from runner.faults.toxiproxy import find_toxiproxy_server

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


def proxy_figures(
    options: ProxyOptions, progress: Callable[[str], None] = lambda _line: None
) -> tuple[dict[str, dict[str, Figure]], str | None]:
    """Per server kind, each figure over `options.rounds` rounds; and why a real server was skipped."""
    servers: list[Callable[[], contextlib.AbstractContextManager[tuple[str, str]]]] = [
        embedded_process
    ]
    skipped = None
    if find_toxiproxy_server() is not None:
        servers.append(real_server)
    else:
        skipped = "no toxiproxy-server on PATH or in $TOXIPROXY_SERVER_BIN"
    results: dict[str, dict[str, Figure]] = {}
    with upstream_process() as upstream:
        for server in servers:
            with server() as (url, kind):
                rounds: list[dict[str, float]] = []
                for index in range(options.rounds):
                    rounds.append(
                        measure_proxy_overhead(
                            url,
                            upstream,
                            requests=options.requests,
                            rate_per_s=options.rate_per_s,
                            latency_samples=options.latency_samples,
                            bulk_mib=options.bulk_mib,
                            connections=options.connections,
                        )
                    )
                    progress(
                        f"proxy {kind} {index + 1}/{options.rounds}: "
                        f"added p50 {rounds[-1]['added_p50_ms']:.3f} ms"
                    )
                results[kind] = {
                    name: figure([r[name] for r in rounds], UNITS.get(name, "ms"))
                    for name in rounds[0]
                }
    return results, skipped
