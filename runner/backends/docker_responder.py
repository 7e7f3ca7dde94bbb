"""The HTTP fault responder as a container on a run's network, in front of MemoryKernel."""

from __future__ import annotations

import docker
from docker.errors import APIError, ImageNotFound
from docker.models.containers import Container

from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID, error_reason
from runner.backends.docker_containers import LOOPBACK, find_container, published_port
from runner.backends.docker_topology import MK_UPSTREAM, RESPONDER, RESPONDER_PORT
from runner.errors import EnvironmentProblem
from runner.images import missing_image_message, runtime_image


def start_responder_container(
    client: docker.DockerClient, run_id: str, project: str, network: str, mode: str
) -> tuple[Container, str, str]:
    """Start `mkdrill serve responder` from the runtime image on `network`.

    Returns the container, the `host:port` Toxiproxy reaches it at (its name on the network),
    and the URL the runner's host reaches it at (published on 127.0.0.1).
    """
    from runner.faults.responder import parse_mode

    parse_mode(mode)  # a bad mode is a DefinitionError now, not a container that exits later
    name = f"{project}_{RESPONDER}"
    command = [
        "mkdrill", "serve", "responder", "--mode", mode, "--upstream", f"http://{MK_UPSTREAM}",
        "--host", "0.0.0.0", "--port", str(RESPONDER_PORT),
    ]  # fmt: skip
    try:
        container = client.containers.run(
            runtime_image(), command, name=name, network=network, init=True, detach=True,
            labels={LABEL_RUN_ID: run_id, LABEL_ROLE: RESPONDER},
            ports={f"{RESPONDER_PORT}/tcp": (LOOPBACK,)},
        )  # fmt: skip
    except ImageNotFound as exc:
        raise EnvironmentProblem(missing_image_message(runtime_image())) from exc
    except APIError as exc:
        raise EnvironmentProblem(f"cannot start the fault responder: {error_reason(exc)}") from exc
    container.reload()
    port = published_port(container, f"{RESPONDER_PORT}/tcp")
    return container, f"{name}:{RESPONDER_PORT}", f"http://{LOOPBACK}:{port}"


def remove_responder_container(client: docker.DockerClient, run_id: str) -> None:
    """Remove the run's responder if it has one."""
    container = find_container(client, run_id, RESPONDER)
    if container is not None:
        container.remove(force=True)
