"""Container faults through the Docker API, each returning an idempotent undo.

stop, kill, pause, a bounded restart loop, a network cut and an image swap. Every undo looks the
container up again by name (a swap replaces it) and does nothing when there is nothing to undo:
the container already runs, is already connected, or is gone with the rest of the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from runner.backends.docker_client import error_reason
from runner.backends.docker_containers import recreate
from runner.errors import InjectionError
from runner.faults.toxiproxy import Undo

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10


def _lookup(client: docker.DockerClient, name: str) -> Container | None:
    try:
        return client.containers.get(name)
    except NotFound:
        return None


def _state(container: Container) -> str:
    container.reload()
    return str(container.status)


def _fail(action: str, container: Container, exc: Exception) -> InjectionError:
    return InjectionError(f"cannot {action} container {container.name}: {error_reason(exc)}")


def ensure_running(client: docker.DockerClient, name: str) -> None:
    """Start (or resume) the container `name` unless it runs; a missing one is left missing."""
    container = _lookup(client, name)
    if container is None:
        return
    state = _state(container)
    if state == "paused":
        container.unpause()
    elif state != "running":
        container.start()


def stop_container(
    client: docker.DockerClient, container: Container, timeout_s: int = STOP_TIMEOUT_S
) -> Undo:
    """Graceful stop (SIGTERM, then SIGKILL after `timeout_s`); the undo starts it again."""
    name = str(container.name)
    try:
        state = _state(container)
        if state == "paused":
            container.unpause()  # a frozen process cannot act on SIGTERM
        if state in ("running", "paused", "restarting"):
            container.stop(timeout=timeout_s)
    except APIError as exc:
        raise _fail("stop", container, exc) from exc
    return Undo(f"start container {name}", lambda: ensure_running(client, name))


def kill_container(client: docker.DockerClient, container: Container) -> Undo:
    """SIGKILL; the undo starts it again."""
    name = str(container.name)
    try:
        if _state(container) in ("running", "paused", "restarting"):
            container.kill()
    except APIError as exc:
        if "is not running" not in error_reason(exc):
            raise _fail("kill", container, exc) from exc
    return Undo(f"start container {name}", lambda: ensure_running(client, name))


def pause_container(client: docker.DockerClient, container: Container) -> Undo:
    """Freeze every process (cgroup freezer); connections are accepted, never answered."""
    name = str(container.name)
    try:
        if _state(container) == "running":
            container.pause()
    except APIError as exc:
        raise _fail("pause", container, exc) from exc
    return Undo(f"unpause container {name}", lambda: unpause(client, name))


def unpause(client: docker.DockerClient, name: str) -> None:
    """Resume the container `name` if it is paused."""
    container = _lookup(client, name)
    if container is not None and _state(container) == "paused":
        container.unpause()


def disconnect_container(
    client: docker.DockerClient, network: Network, container: Container, aliases: list[str]
) -> Undo:
    """Take the container off `network`; the undo connects it again under `aliases`."""
    name = str(container.name)
    network_name = str(network.name)
    try:
        network.disconnect(container)
    except APIError as exc:
        if "is not connected" not in error_reason(exc):
            raise _fail(f"disconnect from {network_name}", container, exc) from exc
    return Undo(
        f"connect container {name} to {network_name}",
        lambda: reconnect(client, network_name, name, aliases),
    )


def reconnect(
    client: docker.DockerClient, network_name: str, name: str, aliases: list[str]
) -> None:
    """Connect the container `name` to `network_name` under `aliases`, if it is not connected."""
    container = _lookup(client, name)
    if container is None:
        return
    container.reload()
    if network_name in (container.attrs.get("NetworkSettings", {}).get("Networks") or {}):
        return
    try:
        client.networks.get(network_name).connect(container, aliases=aliases)
    except APIError as exc:
        if "already exists" not in error_reason(exc):
            raise


def swap_image(
    client: docker.DockerClient,
    container: Container,
    image: str,
    *,
    command: list[str] | None = None,
    on_swapped: Callable[[Container], None] | None = None,
) -> Undo:
    """Replace the container by one from `image` (same name, volumes, ports), started.

    The undo swaps back to the image it had. `on_swapped` runs on each new container once
    created, before it starts (e.g. to write files into it).
    """
    name = str(container.name)
    container.reload()
    previous_image = str(container.attrs["Config"]["Image"])

    def swap_to(target: str, target_command: list[str] | None) -> None:
        current = _lookup(client, name)
        if current is None:
            return
        created = recreate(client, current, image=target, command=target_command)
        if on_swapped is not None:
            on_swapped(created)
        created.start()

    try:
        swap_to(image, command)
    except APIError as exc:
        raise _fail(f"swap to {image}", container, exc) from exc
    return Undo(f"swap {name} back to {previous_image}", lambda: swap_to(previous_image, None))


class RestartLoop:
    """Stop and start a container again and again: flapping, bounded in cycles and time."""

    def __init__(
        self,
        client: docker.DockerClient,
        container: Container,
        *,
        down_s: float,
        up_s: float,
        cycles: int,
        kill: bool = False,
    ) -> None:
        if cycles < 1 or down_s < 0 or up_s < 0:
            raise InjectionError(
                f"restart loop of {container.name}: cycles must be >= 1 and times >= 0 "
                f"(got cycles={cycles}, down_s={down_s}, up_s={up_s})"
            )
        self._client = client
        self._name = str(container.name)
        self._down_s, self._up_s, self._cycles, self._kill = down_s, up_s, cycles, kill
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"restart-{self._name}", daemon=True)
        self.completed_cycles = 0
        self.error: Exception | None = None

    def start(self) -> Undo:
        """Begin cycling in the background; the undo ends the loop and leaves the container up."""
        self._thread.start()
        return Undo(f"end the restart loop of {self._name}", self.stop)

    def stop(self) -> None:
        """End the loop (at most one Docker call later) and start the container if it is down."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_TIMEOUT_S + 5)
        ensure_running(self._client, self._name)

    def _run(self) -> None:
        for _ in range(self._cycles):
            container = _lookup(self._client, self._name)
            if container is None or self._stop.is_set():
                return
            try:
                if self._kill:
                    kill_container(self._client, container)
                else:
                    stop_container(self._client, container, timeout_s=2)
                if self._stop.wait(self._down_s):
                    return
                ensure_running(self._client, self._name)
            except (APIError, InjectionError) as exc:
                self.error = exc
                log.warning("restart loop of %s stopped: %s", self._name, exc)
                return
            self.completed_cycles += 1
            if self._stop.wait(self._up_s):
                return
