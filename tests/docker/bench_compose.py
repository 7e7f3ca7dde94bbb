"""Figures of the compose backend: environment up, release swap and back, down (not a test).

    python -m tests.docker.bench_compose [--rounds 3]

Needs the reference images (`mkdrill images build --offline-base`). Prints one line per step.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

import httpx

from runner.backends.base import ConsumerSettings
from runner.backends.compose import ComposeEnvironment
from runner.images import toxiproxy_image
from runner.pins import default_pin_path, load_pin
from tests.docker.helpers import wait_for_health, wait_for_preflight


def one_round(http: httpx.Client) -> dict[str, float]:
    """Up, swap to v0.3.2 (until its health and the consumer's mismatch), back, down."""
    env = ComposeEnvironment(f"bench-{secrets.token_hex(3)}", toxiproxy_image=toxiproxy_image())
    pin = load_pin(default_pin_path("v0.4.0"))
    figures: dict[str, float] = {}
    started = time.monotonic()
    try:
        endpoints = env.up("v0.4.0", ConsumerSettings(pin=pin))
        figures["up"] = time.monotonic() - started
        for release, version, state in (
            ("v0.3.2", "service.v2", "version-mismatch"),
            ("v0.4.0", "service.v3", "ready"),
        ):
            step = time.monotonic()
            env.start_memorykernel(release)
            figures[f"swap to {release}: container started"] = time.monotonic() - step
            wait_for_health(http, endpoints.memorykernel_url, version)
            figures[f"swap to {release}: health {version}"] = time.monotonic() - step
            wait_for_preflight(http, endpoints.consumer_url, state)
            figures[f"swap to {release}: consumer {state}"] = time.monotonic() - step
    finally:
        step = time.monotonic()
        env.down()
        figures["down"] = time.monotonic() - step
    return figures


def main() -> None:
    """Run the rounds and print median and max of each step."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    with httpx.Client(timeout=5.0) as http:
        for _ in range(args.rounds):
            rounds.append(one_round(http))
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"{name:45s} median {statistics.median(values):6.2f} s  max {max(values):6.2f} s")


if __name__ == "__main__":
    main()
