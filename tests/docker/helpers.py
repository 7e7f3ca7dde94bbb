"""What a user of the Draft flow sees, read over HTTP, with bounded waits."""

from __future__ import annotations

import time
from typing import Any

import docker
import httpx

from runner.backends.docker_client import LABEL_RUN_ID
from runner.backends.docker_containers import list_containers

TICKET = "Am I allowed to use a USB drive?"


def preflight(http: httpx.Client, consumer_url: str) -> dict[str, Any]:
    response = http.get(f"{consumer_url}/v1/preflight")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def draft(http: httpx.Client, consumer_url: str) -> dict[str, Any]:
    """One Draft: it must always be answered (200, non-empty), enriched or not."""
    response = http.post(f"{consumer_url}/v1/draft", json={"ticket": TICKET})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["draft"].strip()
    return body


def wait_for_preflight(
    http: httpx.Client, consumer_url: str, status: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Poll the consumer's preflight until it reports `status`; AssertionError with the last one."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = preflight(http, consumer_url)
        if last.get("status") == status:
            return last
        time.sleep(0.1)
    raise AssertionError(f"preflight never became {status!r} in {timeout_s} s; last: {last}")


def wait_for_health(
    http: httpx.Client, memorykernel_url: str, version: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Poll MemoryKernel's health until it reports `service_contract_version` == `version`."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = http.get(f"{memorykernel_url}/v1/health", timeout=1.0)
            body: dict[str, Any] = response.json()
            if response.status_code == 200 and body.get("service_contract_version") == version:
                return body
            last = body
        except (httpx.HTTPError, ValueError) as exc:
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"health never reported {version} in {timeout_s} s; last: {last!r}")


def labelled(client: docker.DockerClient, run_id: str) -> list[str]:
    """Everything on the engine carrying the run's label."""
    filters = {"label": [f"{LABEL_RUN_ID}={run_id}"]}
    return (
        [f"container {c.name}" for c in list_containers(client, filters)]
        + [f"network {n.name}" for n in client.networks.list(filters=filters)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=filters)]
    )
