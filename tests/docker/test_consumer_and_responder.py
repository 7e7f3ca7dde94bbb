"""Consumer restarts and env changes, and the fault responder container, in the compose environment."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from pathlib import Path

import docker
import httpx
import pytest

from runner.backends.admin_token import ADMIN_TOKEN_ENV
from runner.backends.base import PROXY_NAME, ConsumerSettings
from runner.backends.compose import ComposeEnvironment
from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID
from runner.errors import DefinitionError, EnvironmentProblem
from runner.images import BuildReport
from runner.pins import Pin, default_pin_path, load_pin
from tests.docker.conftest import OTHER_RELEASE, RELEASE, new_environment
from tests.docker.helpers import draft, labelled, preflight, wait_for_preflight

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_restart_consumer_with_other_settings(
    compose_env: ComposeEnvironment, http: httpx.Client, pin: Pin
) -> None:
    url = compose_env.endpoints().consumer_url
    compose_env.restart_consumer(ConsumerSettings(pin=pin, ask_body="shipped"))
    assert compose_env.endpoints().consumer_url == url
    status = preflight(http, url)
    assert status["ask_body"] == "shipped"
    assert draft(http, url)["enrichment"]["applied"] is False  # the real service rejects it

    old_pin = load_pin(default_pin_path(OTHER_RELEASE))
    compose_env.restart_consumer(ConsumerSettings(pin=old_pin))
    status = wait_for_preflight(http, url, "version-mismatch")
    assert status["expected_service_contract_version"] == "service.v2"

    compose_env.restart_consumer(ConsumerSettings(pin=pin))
    wait_for_preflight(http, url, "ready")
    assert draft(http, url)["enrichment"]["applied"] is True


def test_set_consumer_env_is_read_per_call(
    compose_env: ComposeEnvironment, http: httpx.Client
) -> None:
    url = compose_env.endpoints().consumer_url
    compose_env.set_consumer_env({"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "0"})
    assert preflight(http, url)["status"] == "disabled"
    compose_env.set_consumer_env({"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": None})
    assert preflight(http, url)["status"] == "ready"


def test_responder_in_front_of_memorykernel(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    url = compose_env.endpoints().consumer_url
    upstream = compose_env.start_responder("junk-page")
    host, _, port = upstream.rpartition(":")
    assert port == "4030" and host.endswith("_responder")
    filters = {"label": [f"{LABEL_RUN_ID}={compose_env.run_id}", f"{LABEL_ROLE}=responder"]}
    assert len(docker_client.containers.list(filters=filters)) == 1

    undo = compose_env.toxiproxy.set_upstream(PROXY_NAME, upstream)
    wait_for_preflight(http, url, "malformed-payload")
    assert draft(http, url)["enrichment"]["fallback_reason"] == "malformed-payload"

    upstream = compose_env.start_responder("degraded")  # replaces the first one
    assert len(docker_client.containers.list(filters=filters)) == 1
    wait_for_preflight(http, url, "degraded")

    undo()
    compose_env.stop_responder()
    compose_env.stop_responder()
    assert docker_client.containers.list(all=True, filters=filters) == []
    wait_for_preflight(http, url, "ready")


def test_responder_rejects_a_bad_mode_before_starting(compose_env: ComposeEnvironment) -> None:
    with pytest.raises(DefinitionError):
        compose_env.start_responder("no-such-mode")


def test_consumer_of_ones_own_reaches_memorykernel_through_the_published_proxy(
    docker_client: docker.DockerClient,
    reference_images: BuildReport,
    run_id: str,
    pin: Pin,
    http: httpx.Client,
) -> None:
    assert pin.source is not None
    consumer = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "assistsupport", "--pin", str(pin.source),
         "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, ADMIN_TOKEN_ENV: "consumer-of-ones-own"},
    )  # fmt: skip
    try:
        assert consumer.stdout is not None
        ready, _, _ = select.select([consumer.stdout], [], [], 60.0)
        assert ready, "the consumer printed no ready line in 60 s"
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", consumer.stdout.readline())
        assert match is not None
        consumer_url = match.group(1)

        env = new_environment(run_id, consumer_url=consumer_url, admin_token="consumer-of-ones-own")
        try:
            endpoints = env.up(RELEASE, ConsumerSettings(pin=pin))
            assert endpoints.consumer_url == consumer_url
            status = wait_for_preflight(http, consumer_url, "ready")
            assert status["base_url"] == f"http://{endpoints.proxy_listen}"
            roles = {row.name for row in env.status()}
            assert roles == {"memorykernel", "toxiproxy"}

            env.stop_memorykernel()
            assert draft(http, consumer_url)["enrichment"]["fallback_reason"] == "offline"
            with pytest.raises(EnvironmentProblem, match="not started by mkdrill"):
                env.restart_consumer(ConsumerSettings(pin=pin, ask_body="shipped"))
        finally:
            env.down()
        assert labelled(docker_client, run_id) == []
    finally:
        consumer.terminate()
        consumer.wait(timeout=30)
        if consumer.stdout is not None:
            consumer.stdout.close()
