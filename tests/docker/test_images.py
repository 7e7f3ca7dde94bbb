"""The reference images: what they contain, that a rebuild reuses everything, the compose file."""

from __future__ import annotations

import re
from pathlib import Path

import docker
import pytest
import yaml

from runner import __version__
from runner.backends.docker_base_image import OFFLINE_BASE_IMAGE
from runner.images import (
    CONTEXT_LABEL,
    BuildReport,
    build_reference_images,
    consumer_image,
    memorykernel_image,
    reference_images,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"


def test_every_reference_image_is_built_on_the_offline_base(
    docker_client: docker.DockerClient, reference_images: BuildReport
) -> None:
    assert reference_images.base_image == OFFLINE_BASE_IMAGE
    built = {image.tag for image in reference_images.images}
    assert built == {spec.tag for spec in reference_images_specs()}
    for tag in built:
        labels = docker_client.images.get(tag).labels
        assert labels["io.mkdrill.version"] == __version__
    for release in ("v0.3.2", "v0.4.0"):
        config = docker_client.images.get(memorykernel_image(release)).attrs["Config"]
        # The real binary's contract: the entrypoint is the service, mkdrill passes the flags.
        assert config["Entrypoint"] == ["mkdrill", "serve", "memorykernel", "--release", release]
        assert config["Cmd"] == ["--bind", "0.0.0.0:4010", "--db", "/data/memory_kernel.sqlite3"]
        assert config["Labels"]["io.mkdrill.release"] == release


def reference_images_specs() -> list[object]:
    return list(reference_images())


def test_a_second_build_reuses_the_base_and_the_images(
    docker_client: docker.DockerClient, reference_images: BuildReport
) -> None:
    messages: list[str] = []
    again = build_reference_images(docker_client, offline_base=True, progress=messages.append)
    assert again.base_seconds is None
    assert f"{OFFLINE_BASE_IMAGE} exists; skipping debootstrap" in messages
    assert {image.tag for image in again.images} == {image.tag for image in reference_images.images}
    # Same sources, same base: every image is found up to date by its context label, none rebuilt.
    assert all(image.up_to_date for image in again.images), again.images
    for image in again.images:
        assert f"{image.tag} is up to date (same sources and base); not rebuilt" in messages
        assert docker_client.images.get(image.tag).labels[CONTEXT_LABEL]


def with_defaults(text: str) -> str:
    """`${NAME:-default}` replaced by its default, as compose reads it with NAME unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_compose_file_labels_everything_and_publishes_on_loopback_only() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"memorykernel", "toxiproxy", "assistsupport"}
    for name, service in compose["services"].items():
        assert service["labels"]["io.mkdrill.role"] == name
        assert service["labels"]["io.mkdrill.run-id"] == "${MKDRILL_RUN_ID:-manual}"
        assert service["networks"] == ["drill"]
        published = [with_defaults(port) for port in service["ports"]]
        assert all(port.startswith("127.0.0.1::") for port in published), published
    for section in ("networks", "volumes"):
        for item in compose[section].values():
            assert item["labels"]["io.mkdrill.run-id"] == "${MKDRILL_RUN_ID:-manual}"
    consumer = compose["services"]["assistsupport"]
    assert consumer["image"] == f"${{MKDRILL_CONSUMER_IMAGE:-{consumer_image()}}}"
    assert (
        consumer["environment"]["ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL"] == "http://toxiproxy:4011"
    )
    assert compose["services"]["toxiproxy"]["image"] == (
        "${MKDRILL_TOXIPROXY_IMAGE:-ghcr.io/shopify/toxiproxy:2.9.0}"
    )
