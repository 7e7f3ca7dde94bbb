"""Container plumbing through the Docker API: find by label, published ports, files in, recreate.

`recreate` is what `docker-compose up --force-recreate` does for one service, done in-process: the
same name, network aliases, volumes, labels, init and published host ports, with another image,
command or environment. The drill environment swaps MemoryKernel releases and restarts the
consumer with it, so their URLs never change during a run.
"""

from __future__ import annotations

import io
import logging
import tarfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import Mount

from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID, error_reason
from runner.errors import EnvironmentProblem

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# Marker for "keep what the container has" where None already means "the image's default".
KEEP: Any = object()


def run_filters(run_id: str | None, role: str | None = None) -> dict[str, list[str]]:
    """Label filters for everything of one run (or of every run), optionally of one role."""
    labels = [f"{LABEL_RUN_ID}={run_id}" if run_id else LABEL_RUN_ID]
    if role:
        labels.append(f"{LABEL_ROLE}={role}")
    return {"label": labels}


def list_containers(
    client: docker.DockerClient, filters: Mapping[str, Any], *, running_only: bool = False
) -> list[Container]:
    """The containers matching `filters`, inspected; one removed meanwhile is left out.

    `containers.list` inspects each container it lists, and raises NotFound when another run (or
    `mkdrill env reset`) removes one between the two calls; here that container is simply gone.
    """
    found: list[Container] = []
    for summary in client.api.containers(all=not running_only, filters=dict(filters)):
        try:
            found.append(client.containers.get(summary["Id"]))
        except NotFound:
            continue
    return found


def find_container(client: docker.DockerClient, run_id: str, role: str) -> Container | None:
    """The container of `role` in run `run_id`, running or not."""
    found = list_containers(client, run_filters(run_id, role))
    return found[0] if found else None


def published_port(container: Container, container_port: str) -> int | None:
    """The host port published for `container_port` ("4010/tcp"), None if not published now."""
    ports = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
    for binding in ports.get(container_port) or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def state_text(container: Container) -> str:
    """`running (healthy)`, `exited (137)`, `paused`… as `docker ps` would put it."""
    state = container.attrs.get("State", {})
    status = str(state.get("Status", container.status))
    if status == "exited":
        return f"exited ({state.get('ExitCode')})"
    health = (state.get("Health") or {}).get("Status")
    return f"{status} ({health})" if health and status == "running" else status


def logs_tail(container: Container, lines: int = 3) -> str:
    """The last lines the container printed, joined on one line ("" when they cannot be read)."""
    try:
        raw = container.logs(tail=lines, stdout=True, stderr=True)
    except (APIError, NotFound):
        return ""
    return " | ".join(line.strip() for line in bytes(raw).decode(errors="replace").splitlines())


def put_files(
    container: Container, directory: str, entries: Mapping[str, bytes | None], mode: int = 0o666
) -> None:
    """Write files (bytes) and folders (None) into `directory` of a created or running container.

    Everything is world-writable: a broken database must fail for being broken, not unreadable.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        now = time.time()
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            info.mtime = int(now)
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o777
                archive.addfile(info)
            else:
                info.size = len(content)
                info.mode = mode
                archive.addfile(info, io.BytesIO(content))
    try:
        container.put_archive(directory, buffer.getvalue())
    except APIError as exc:
        raise EnvironmentProblem(
            f"cannot write {', '.join(entries)} into {directory} of container {container.name}: "
            f"{error_reason(exc)}"
        ) from exc


def image_config(client: docker.DockerClient, image: str) -> dict[str, Any]:
    """The `Config` of an image; EnvironmentProblem naming the tag when the engine lacks it."""
    try:
        attrs: dict[str, Any] = client.api.inspect_image(image)
    except ImageNotFound as exc:
        raise EnvironmentProblem(f"image {image} not found on the Docker engine") from exc
    config: dict[str, Any] = attrs.get("Config") or {}
    return config


def recreate(
    client: docker.DockerClient,
    container: Container,
    *,
    image: str | None = None,
    command: list[str] | None = KEEP,
    environment: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
    aliases: Sequence[str] | None = None,
    stop_timeout_s: int = 10,
) -> Container:
    """Replace `container` by a new one (created, not started) with the changes asked for.

    `command` None means the new image's default; `environment` replaces the variables the
    container was given (the image's own come from the new image); `ports` pins host ports
    (container port → host port) so URLs survive; `aliases` are its names on its network.
    """
    container.reload()
    attrs = container.attrs
    config: dict[str, Any] = attrs["Config"]
    host: dict[str, Any] = attrs["HostConfig"]
    old_image = _old_image_config(client, attrs)
    new_image = image or str(config["Image"])
    new_image_config = image_config(client, new_image)
    name = str(attrs["Name"]).lstrip("/")
    network = str(host.get("NetworkMode") or "")
    if aliases is None:
        endpoint = (attrs.get("NetworkSettings", {}).get("Networks") or {}).get(network) or {}
        aliases = [a for a in endpoint.get("Aliases") or [] if not container.id.startswith(a)]
    bindings = _port_bindings(container, host, ports)

    labels = {
        key: value
        for key, value in (config.get("Labels") or {}).items()
        if (old_image.get("Labels") or {}).get(key) != value
    }
    if environment is None:
        inherited = set(old_image.get("Env") or [])
        env = [item for item in config.get("Env") or [] if item not in inherited]
    else:
        env = [f"{key}={value}" for key, value in environment.items()]
    if command is KEEP:
        command = config.get("Cmd") if config.get("Cmd") != old_image.get("Cmd") else None
    healthcheck = config.get("Healthcheck")
    if healthcheck == old_image.get("Healthcheck"):
        healthcheck = new_image_config.get("Healthcheck")

    _remove(container, stop_timeout_s)
    host_config = client.api.create_host_config(
        binds=host.get("Binds") or None,
        mounts=[_mount(item) for item in host.get("Mounts") or []] or None,
        port_bindings=bindings or None,
        init=host.get("Init"),
        network_mode=network or None,
    )
    networking = None
    if network:
        networking = client.api.create_networking_config(
            {network: client.api.create_endpoint_config(aliases=list(aliases) or None)}
        )
    try:
        created = client.api.create_container(
            new_image,
            command=command,
            name=name,
            environment=env,
            labels=labels,
            ports=[_exposed(port) for port in bindings] or None,
            host_config=host_config,
            networking_config=networking,
            healthcheck=healthcheck,
        )
    except APIError as exc:
        raise EnvironmentProblem(
            f"cannot create container {name} from {new_image}: {error_reason(exc)}"
        ) from exc
    log.info("recreated %s from %s", name, new_image)
    return client.containers.get(created["Id"])


def _old_image_config(client: docker.DockerClient, attrs: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return image_config(client, str(attrs["Image"]))
    except EnvironmentProblem:
        return {}  # the image was removed under the container: keep everything the container has


def _port_bindings(
    container: Container, host: Mapping[str, Any], pinned: Mapping[str, int] | None
) -> dict[str, tuple[str, int] | tuple[str]]:
    """Each published port on the same host address, pinned to the host port in use."""
    bindings: dict[str, tuple[str, int] | tuple[str]] = {}
    for container_port, wanted in (host.get("PortBindings") or {}).items():
        host_ip = (wanted or [{}])[0].get("HostIp") or LOOPBACK
        port = (pinned or {}).get(container_port) or published_port(container, container_port)
        bindings[container_port] = (host_ip, port) if port else (host_ip,)
    return bindings


def _exposed(container_port: str) -> tuple[int, str]:
    number, _, protocol = container_port.partition("/")
    return int(number), protocol or "tcp"


def _mount(item: Mapping[str, Any]) -> Mount:
    return Mount(
        target=str(item["Target"]),
        source=item.get("Source"),
        type=str(item.get("Type", "volume")),
        read_only=bool(item.get("ReadOnly", False)),
    )


def _remove(container: Container, stop_timeout_s: int) -> None:
    """Stop gracefully (a paused container is resumed first), then remove."""
    try:
        container.reload()
        if container.status == "paused":
            container.unpause()
        if container.status in ("running", "paused", "restarting"):
            container.stop(timeout=stop_timeout_s)
        container.remove(force=True)
    except NotFound:
        return
