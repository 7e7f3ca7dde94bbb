"""Removing what drill runs left on the Docker engine, found by their io.mkdrill.run-id label."""

from __future__ import annotations

import logging

import docker
from docker.errors import APIError, NotFound

from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID, connect, error_reason
from runner.backends.docker_containers import (
    LOOPBACK,
    list_containers,
    published_port,
    run_filters,
    state_text,
)
from runner.backends.owner import LABEL_OWNER_PID
from runner.errors import CleanupError, EnvironmentProblem
from runner.faults.toxiproxy import ToxiproxyControl

log = logging.getLogger(__name__)

TOXIPROXY_API_PORT = "8474/tcp"
OWNER_LABEL_PREFIX = "io.mkdrill.owner-"


def sweep(client: docker.DockerClient, run_id: str | None) -> list[str]:
    """Remove the containers, networks and volumes of run `run_id` (of every run when None).

    Toxics of a Toxiproxy that still runs are reset first, so nothing keeps injecting while the
    rest goes. Returns one line per thing removed; CleanupError lists what could not be, after
    everything else was tried.
    """
    removed: list[str] = []
    failures: list[str] = []
    filters = run_filters(run_id)
    containers = list_containers(client, filters)
    for container in containers:
        if container.labels.get(LABEL_ROLE) == "toxiproxy" and container.status == "running":
            _reset_toxics(container, removed)
    for container in containers:
        try:
            container.remove(force=True)
            removed.append(f"container {container.name}")
        except NotFound:
            continue
        except APIError as exc:
            failures.append(f"container {container.name}: {error_reason(exc)}")
    for network in client.networks.list(filters=filters):
        try:
            network.remove()
            removed.append(f"network {network.name}")
        except NotFound:
            continue
        except APIError as exc:
            failures.append(f"network {network.name}: {error_reason(exc)}")
    for volume in client.volumes.list(filters=filters):
        try:
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        except NotFound:
            continue
        except APIError as exc:
            failures.append(f"volume {volume.name}: {error_reason(exc)}")
    if failures:
        raise CleanupError(
            f"could not remove {len(failures)} Docker object(s): {'; '.join(failures)}; "
            "remove them with docker rm/network rm/volume rm"
        )
    for line in removed:
        log.info("removed %s", line)
    return removed


def _reset_toxics(container: docker.models.containers.Container, removed: list[str]) -> None:
    port = published_port(container, TOXIPROXY_API_PORT)
    if port is None:
        return
    try:
        ToxiproxyControl(f"http://{LOOPBACK}:{port}", timeout=2.0).reset()
    except EnvironmentProblem as exc:
        log.info("toxics of %s not reset (removed with it anyway): %s", container.name, exc)
        return
    removed.append(f"toxics of {container.name}")


def reset_all(client: docker.DockerClient | None = None, run_id: str | None = None) -> list[str]:
    """Remove every mkdrill-labelled container, network and volume (of one run when given).

    For `mkdrill env reset --backend compose` after a crash; returns what was removed.
    """
    active = client or connect()
    try:
        return sweep(active, run_id)
    finally:
        if client is None:
            active.close()


def run_owners(client: docker.DockerClient) -> dict[str, dict[str, str]]:
    """Every mkdrill run id on the engine, with the owner labels found on any of its objects."""
    owners: dict[str, dict[str, str]] = {}
    filters = run_filters(None)
    objects = [
        *list_containers(client, filters),
        *client.networks.list(filters=filters),
        *client.volumes.list(filters=filters),
    ]
    for item in objects:
        labels = _labels(item)
        run_id = labels.get(LABEL_RUN_ID)
        if not run_id:
            continue
        found = owners.setdefault(run_id, {})
        if not found.get(LABEL_OWNER_PID) and labels.get(LABEL_OWNER_PID):
            found.update({k: v for k, v in labels.items() if k.startswith(OWNER_LABEL_PREFIX)})
    return owners


def _labels(item: object) -> dict[str, str]:
    attrs = getattr(item, "attrs", {}) or {}
    labels = attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def describe_all(client: docker.DockerClient | None = None) -> list[str]:
    """One line per mkdrill-labelled container on the engine, for `mkdrill env status`."""
    active = client or connect()
    try:
        lines = [
            f"run {c.labels.get(LABEL_RUN_ID)}: {c.labels.get(LABEL_ROLE, '?')} {c.name} "
            f"{c.attrs.get('Config', {}).get('Image', '')} {state_text(c)}"
            for c in list_containers(active, run_filters(None))
        ]
        return sorted(lines) or ["no compose environment on the Docker engine"]
    finally:
        if client is None:
            active.close()
