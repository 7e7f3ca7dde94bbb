"""Fixtures of the Docker end-to-end tests: a reachable engine, the reference images, an environment.

Without a reachable engine these tests skip, unless CI is set: there they must run, so an
unreachable engine fails them. The images are built once per session with the offline base
(debootstrap on first use); on a warm engine the build only confirms its cache.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import docker
import httpx
import pytest

from runner.backends.base import ConsumerSettings
from runner.backends.compose import ComposeEnvironment
from runner.backends.docker_client import connect
from runner.errors import EnvironmentProblem
from runner.images import BuildReport, build_reference_images, toxiproxy_image
from runner.pins import Pin, default_pin_path, load_pin

RELEASE = "v0.4.0"
OTHER_RELEASE = "v0.3.2"


def in_ci() -> bool:
    """CI=true (as .ci/run is started): Docker tests must run, not skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EnvironmentProblem as exc:
        if in_ci():
            pytest.fail(f"CI is set and Docker is needed: {exc}")
        pytest.skip(f"Docker engine not reachable, so Docker tests skip outside CI ({exc})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def reference_images(docker_client: docker.DockerClient) -> BuildReport:
    try:
        return build_reference_images(docker_client, offline_base=True)
    except EnvironmentProblem as exc:
        if in_ci():
            raise
        pytest.skip(f"reference images cannot be built here: {exc}")


@pytest.fixture(scope="session")
def pin() -> Pin:
    return load_pin(default_pin_path(RELEASE))


@pytest.fixture
def run_id() -> str:
    return f"test-{secrets.token_hex(4)}"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def new_environment(run_id: str, **options: object) -> ComposeEnvironment:
    """A compose environment on the embedded Toxiproxy (no registry here for ghcr's)."""
    options.setdefault("toxiproxy_image", toxiproxy_image())
    return ComposeEnvironment(run_id, **options)  # type: ignore[arg-type]


@pytest.fixture
def compose_env(
    reference_images: BuildReport, run_id: str, pin: Pin
) -> Iterator[ComposeEnvironment]:
    env = new_environment(run_id)
    try:
        env.up(RELEASE, ConsumerSettings(pin=pin))
        yield env
    finally:
        env.down()
