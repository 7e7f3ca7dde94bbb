"""runner.faults.docker on a real container: each fault and its idempotent undo."""

from __future__ import annotations

import time

import docker
import httpx
import pytest
from docker.models.containers import Container

from runner.backends.compose import ComposeEnvironment
from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID
from runner.errors import InjectionError
from runner.faults import docker as faults
from tests.docker.conftest import OTHER_RELEASE
from tests.docker.helpers import wait_for_health, wait_for_preflight

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def _container(client: docker.DockerClient, env: ComposeEnvironment, role: str) -> Container:
    filters = {"label": [f"{LABEL_RUN_ID}={env.run_id}", f"{LABEL_ROLE}={role}"]}
    (container,) = client.containers.list(all=True, filters=filters)
    return container


def _status(container: Container) -> str:
    container.reload()
    return str(container.status)


def test_stop_kill_pause_each_undone(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient
) -> None:
    container = _container(docker_client, compose_env, "memorykernel")
    for inject, state in (
        (faults.stop_container, "exited"),
        (faults.kill_container, "exited"),
        (faults.pause_container, "paused"),
    ):
        undo = inject(docker_client, container)
        assert _status(container) == state
        undo()
        undo()  # idempotent
        assert _status(container) == "running"


def test_disconnect_undo_reconnects_under_the_alias(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    container = _container(docker_client, compose_env, "memorykernel")
    (network,) = docker_client.networks.list(
        filters={"label": [f"{LABEL_RUN_ID}={compose_env.run_id}"]}
    )
    undo = faults.disconnect_container(docker_client, network, container, ["memorykernel"])
    wait_for_preflight(http, compose_env.endpoints().consumer_url, "offline")
    undo()
    undo()
    container.reload()
    aliases = container.attrs["NetworkSettings"]["Networks"][network.name]["Aliases"]
    assert "memorykernel" in aliases
    wait_for_preflight(http, compose_env.endpoints().consumer_url, "ready")


def test_swap_image_and_back(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    mk_url = compose_env.endpoints().memorykernel_url
    container = _container(docker_client, compose_env, "memorykernel")
    undo = faults.swap_image(docker_client, container, f"memorykernel:{OTHER_RELEASE}")
    wait_for_health(http, mk_url, "service.v2")
    undo()
    undo()
    wait_for_health(http, mk_url, "service.v3")
    swapped = _container(docker_client, compose_env, "memorykernel")
    assert swapped.attrs["Config"]["Image"] == "memorykernel:v0.4.0"
    assert swapped.attrs["HostConfig"]["Init"] is True


def test_restart_loop_is_bounded_and_leaves_it_running(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient
) -> None:
    container = _container(docker_client, compose_env, "memorykernel")
    loop = faults.RestartLoop(docker_client, container, down_s=0.2, up_s=0.2, cycles=2, kill=True)
    undo = loop.start()
    deadline = time.monotonic() + 60
    while loop.completed_cycles < 2 and time.monotonic() < deadline and loop.error is None:
        time.sleep(0.1)
    assert loop.error is None
    assert loop.completed_cycles == 2
    undo()
    assert _status(container) == "running"

    with pytest.raises(InjectionError, match="cycles must be >= 1"):
        faults.RestartLoop(docker_client, container, down_s=0.1, up_s=0.1, cycles=0)


@pytest.mark.parametrize("fault", ["stop", "kill"])
def test_a_gone_memorykernel_is_nothing_listening_behind_the_proxy(
    compose_env: ComposeEnvironment, fault: str
) -> None:
    """A stopped or killed container takes its address with it: a dial caught in flight would hang
    (and with it a real Toxiproxy's serial accept loop). The proxy meets a refusing port instead:
    every client through it is closed at once, and a restart points the proxy back."""
    from runner.backends.base import PROXY_NAME
    from runner.backends.compose import NOTHING_LISTENING

    getattr(compose_env, f"{fault}_memorykernel")()
    assert (compose_env.toxiproxy.proxy(PROXY_NAME) or {})["upstream"] == NOTHING_LISTENING
    listen = compose_env.endpoints().proxy_listen
    for _ in range(20):
        started = time.monotonic()
        with httpx.Client(timeout=5) as client, pytest.raises(httpx.HTTPError):
            client.get(f"http://{listen}/v1/health")
        assert time.monotonic() - started < 1.0
    compose_env.start_memorykernel(compose_env.memorykernel_release)
    assert (compose_env.toxiproxy.proxy(PROXY_NAME) or {})["upstream"] == "memorykernel:4010"
