"""Each MemoryKernel primitive of the compose environment, seen from the consumer."""

from __future__ import annotations

import time

import docker
import httpx
import pytest

from runner.backends.compose import ComposeEnvironment
from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID
from runner.errors import EnvironmentProblem
from tests.docker.conftest import OTHER_RELEASE, RELEASE
from tests.docker.helpers import draft, preflight, wait_for_health, wait_for_preflight

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def _memorykernel(
    client: docker.DockerClient, env: ComposeEnvironment
) -> docker.models.containers.Container:
    filters = {"label": [f"{LABEL_RUN_ID}={env.run_id}", f"{LABEL_ROLE}=memorykernel"]}
    (container,) = client.containers.list(all=True, filters=filters)
    return container


def test_stop_then_start_again(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    url = compose_env.endpoints().consumer_url
    compose_env.stop_memorykernel()
    compose_env.stop_memorykernel()  # idempotent
    assert _memorykernel(docker_client, compose_env).status == "exited"
    assert preflight(http, url)["status"] == "offline"
    assert draft(http, url)["enrichment"]["fallback_reason"] == "offline"

    compose_env.start_memorykernel(RELEASE)
    wait_for_preflight(http, url, "ready")
    assert draft(http, url)["enrichment"]["applied"] is True


def test_kill(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    compose_env.kill_memorykernel()
    compose_env.kill_memorykernel()
    container = _memorykernel(docker_client, compose_env)
    assert container.attrs["State"]["ExitCode"] == 137
    body = draft(http, compose_env.endpoints().consumer_url)
    assert body["enrichment"]["fallback_reason"] == "offline"


def test_pause_holds_requests_until_unpaused(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    url = compose_env.endpoints().consumer_url
    compose_env.set_consumer_env({"ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "300"})
    compose_env.pause_memorykernel()
    compose_env.pause_memorykernel()
    assert _memorykernel(docker_client, compose_env).status == "paused"
    with pytest.raises(httpx.TimeoutException):
        http.get(f"{compose_env.endpoints().memorykernel_url}/v1/health", timeout=0.5)
    started = time.monotonic()
    body = draft(http, url)
    assert body["enrichment"]["applied"] is False
    assert body["enrichment"]["fallback_reason"] == "offline"
    assert time.monotonic() - started < 10.0  # answered, not held

    compose_env.unpause_memorykernel()
    compose_env.unpause_memorykernel()
    wait_for_preflight(http, url, "ready")


def test_network_disconnect_and_reconnect(
    compose_env: ComposeEnvironment, docker_client: docker.DockerClient, http: httpx.Client
) -> None:
    url = compose_env.endpoints().consumer_url
    compose_env.disconnect_network()
    compose_env.disconnect_network()
    networks = _memorykernel(docker_client, compose_env).attrs["NetworkSettings"]["Networks"]
    assert not any(name.endswith("_drill") for name in networks)
    assert preflight(http, url)["status"] == "offline"

    compose_env.reconnect_network()
    compose_env.reconnect_network()
    networks = _memorykernel(docker_client, compose_env).attrs["NetworkSettings"]["Networks"]
    assert any(name.endswith("_drill") for name in networks)
    wait_for_preflight(http, url, "ready")


def test_swap_to_the_other_release_and_back_keeps_the_volume_and_port(
    compose_env: ComposeEnvironment, http: httpx.Client
) -> None:
    endpoints = compose_env.endpoints()
    compose_env.run_sql("CREATE TABLE drill_marker (x INTEGER)")

    compose_env.start_memorykernel(OTHER_RELEASE)
    assert compose_env.memorykernel_release == OTHER_RELEASE
    assert compose_env.endpoints() == endpoints
    wait_for_health(http, endpoints.memorykernel_url, "service.v2")
    status = wait_for_preflight(http, endpoints.consumer_url, "version-mismatch")
    assert status["service_contract_version"] == "service.v2"
    assert (
        draft(http, endpoints.consumer_url)["enrichment"]["fallback_reason"] == "version-mismatch"
    )
    compose_env.run_sql("INSERT INTO drill_marker VALUES (1)")  # same database file

    compose_env.start_memorykernel(RELEASE)
    wait_for_health(http, endpoints.memorykernel_url, "service.v3")
    wait_for_preflight(http, endpoints.consumer_url, "ready")
    # Each release that served names the contract its health answered (the report's identities).
    identities = compose_env.memorykernel_identities()
    assert identities[OTHER_RELEASE].service_contract_version == "service.v2"
    assert identities[RELEASE].service_contract_version == "service.v3"


@pytest.mark.parametrize("database", ["directory", "corrupt", "missing-parent"])
def test_broken_database_makes_schema_unavailable(
    compose_env: ComposeEnvironment, http: httpx.Client, database: str
) -> None:
    endpoints = compose_env.endpoints()
    compose_env.start_memorykernel(RELEASE, database=database)  # type: ignore[arg-type]
    wait_for_health(http, endpoints.memorykernel_url, "service.v3")
    wait_for_preflight(http, endpoints.consumer_url, "schema-unavailable")
    body = draft(http, endpoints.consumer_url)
    assert body["enrichment"]["fallback_reason"] == "schema-unavailable"

    compose_env.start_memorykernel(RELEASE)
    wait_for_preflight(http, endpoints.consumer_url, "ready")


def test_run_sql_plants_a_future_schema_row(
    compose_env: ComposeEnvironment, http: httpx.Client
) -> None:
    url = compose_env.endpoints().consumer_url
    assert draft(http, url)["enrichment"]["applied"] is True  # migrated by the first ask
    compose_env.run_sql(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (99, '2030-01-01T00:00:00Z')"
    )
    body = draft(http, url)
    assert body["enrichment"]["applied"] is False
    assert body["enrichment"]["fallback_reason"] == "schema-unavailable"

    with pytest.raises(EnvironmentProblem, match="sqlite3: no such table: nothing_here"):
        compose_env.run_sql("DELETE FROM nothing_here")


def test_run_sql_while_stopped_uses_the_same_volume(
    compose_env: ComposeEnvironment, http: httpx.Client
) -> None:
    compose_env.stop_memorykernel()
    compose_env.run_sql("CREATE TABLE while_stopped (x INTEGER)")
    compose_env.start_memorykernel(RELEASE)
    compose_env.run_sql("INSERT INTO while_stopped VALUES (1)")
    wait_for_preflight(http, compose_env.endpoints().consumer_url, "ready")


def test_missing_release_image_names_tag_and_build_command(
    compose_env: ComposeEnvironment,
) -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        compose_env.start_memorykernel("v9.9.9")
    message = str(caught.value)
    assert "memorykernel:v9.9.9" in message
    assert "mkdrill images build --offline-base" in message
    assert caught.value.exit_code == 3
