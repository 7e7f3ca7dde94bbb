"""The compose environment comes up from built images, answers on loopback, and leaves nothing."""

from __future__ import annotations

import urllib.parse

import docker
import httpx
import pytest

from runner.backends.base import ConsumerSettings
from runner.backends.compose import ComposeEnvironment
from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID
from runner.images import BuildReport, toxiproxy_image
from runner.pins import Pin
from tests.docker.conftest import RELEASE, new_environment
from tests.docker.helpers import draft, labelled, preflight

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def test_up_serves_enriched_drafts_on_loopback_and_down_leaves_nothing(
    docker_client: docker.DockerClient,
    reference_images: BuildReport,
    run_id: str,
    pin: Pin,
    http: httpx.Client,
) -> None:
    env = new_environment(run_id)
    try:
        endpoints = env.up(RELEASE, ConsumerSettings(pin=pin))
        for url in (endpoints.consumer_url, endpoints.memorykernel_url, endpoints.toxiproxy_url):
            assert urllib.parse.urlsplit(url).hostname == "127.0.0.1"
        assert endpoints.proxy_listen.startswith("127.0.0.1:")

        assert preflight(http, endpoints.consumer_url)["status"] == "ready"
        body = draft(http, endpoints.consumer_url)
        assert body["enrichment"]["applied"] is True
        health = http.get(f"{endpoints.memorykernel_url}/v1/health").json()
        assert health["service_contract_version"] == "service.v3"
        assert env.memorykernel_release == RELEASE
        assert env.toxiproxy_kind == f"embedded ({toxiproxy_image()})"
        assert env.up_seconds is not None and env.up_seconds > 0

        # The consumer reaches MemoryKernel only through the proxy.
        assert preflight(http, endpoints.consumer_url)["base_url"] == "http://toxiproxy:4011"
        proxy = http.get(f"{endpoints.toxiproxy_url}/proxies/memorykernel").json()
        assert proxy["upstream"] == "memorykernel:4010"

        filters = {"label": [f"{LABEL_RUN_ID}={run_id}"]}
        containers = docker_client.containers.list(all=True, filters=filters)
        assert sorted(c.labels[LABEL_ROLE] for c in containers) == [
            "assistsupport",
            "memorykernel",
            "toxiproxy",
        ]
        for container in containers:
            for bindings in container.attrs["NetworkSettings"]["Ports"].values():
                assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])
        assert len(docker_client.networks.list(filters=filters)) == 1
        assert len(docker_client.volumes.list(filters=filters)) == 1
        assert {row.name for row in env.status()} == {"assistsupport", "memorykernel", "toxiproxy"}
    finally:
        env.down()
    assert labelled(docker_client, run_id) == []
    env.down()  # twice is fine


def test_restart_consumer_with_env_keeps_its_url(
    compose_env: ComposeEnvironment, http: httpx.Client, pin: Pin
) -> None:
    settings = ConsumerSettings(pin=pin, env={"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "off"})
    url = compose_env.endpoints().consumer_url
    compose_env.restart_consumer(settings)
    assert compose_env.endpoints().consumer_url == url  # same host port after a recreate
    assert preflight(http, url)["status"] == "disabled"
    assert draft(http, url)["enrichment"]["fallback_reason"] == "feature-disabled"


def test_up_with_consumer_env_starts_it_with_that_env(
    docker_client: docker.DockerClient,
    reference_images: BuildReport,
    run_id: str,
    pin: Pin,
    http: httpx.Client,
) -> None:
    env = new_environment(run_id)
    try:
        endpoints = env.up(
            RELEASE, ConsumerSettings(pin=pin, env={"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "0"})
        )
        assert preflight(http, endpoints.consumer_url)["status"] == "disabled"
    finally:
        env.down()
    assert labelled(docker_client, run_id) == []
