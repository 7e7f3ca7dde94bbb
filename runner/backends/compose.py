"""The Docker backend: MemoryKernel, Toxiproxy and the Draft consumer as containers of one run.

compose/docker-compose.yml is the topology, and `up()` creates it with the Compose tool
(`up --no-start`): network, volume, containers, labels and loopback-only ephemeral ports come from
that one documented file. Everything after creation goes through the Docker API instead, because
the drills need what Compose does slowly or not at all: starting containers in a chosen order and
waiting on our own health deadlines, writing the pin file into the consumer before it starts,
recreating MemoryKernel from another release image on the same volume and host port in a fraction of
a second (a `docker-compose` call alone costs about a second), broken database paths, pause,
network cut, a fault responder container, and sweeping by label after a crash.

Every container, network and volume carries `io.mkdrill.run-id` and `io.mkdrill.role`;
`down()` removes everything of its run and `reset_all()` everything of every run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import docker
import httpx
from docker.errors import APIError, ImageNotFound
from docker.models.containers import Container

from runner.backends.admin_token import ADMIN_TOKEN_ENV, admin_headers, new_admin_token
from runner.backends.base import (
    PROXY_NAME,
    ConsumerSettings,
    DatabaseState,
    Endpoints,
    Environment,
    ServiceStatus,
)
from runner.backends.docker_client import LABEL_ROLE, connect, error_reason
from runner.backends.docker_compose_cli import COMPOSE_FILE, compose_create
from runner.backends.docker_containers import (
    LOOPBACK,
    find_container,
    list_containers,
    logs_tail,
    published_port,
    put_files,
    recreate,
    run_filters,
    state_text,
)
from runner.backends.docker_health import wait_for_http
from runner.backends.docker_memorykernel import (
    BROKEN_DATABASE_FILES,
    DATA_DIR,
    database_command,
    health_check,
    run_sql,
)
from runner.backends.docker_responder import (
    remove_responder_container,
    start_responder_container,
)
from runner.backends.docker_sweep import describe_all, reset_all, sweep
from runner.backends.docker_topology import (
    API_PORT,
    CONSUMER,
    CONSUMER_PORT,
    MEMORYKERNEL,
    MK_PORT,
    MK_UPSTREAM,
    NETWORK_ROLE,
    PIN_DIR,
    PIN_FILE,
    PROXY_LISTEN,
    PROXY_PORT,
    PUBLISHED,
    TOXIPROXY,
    consumer_command,
    consumer_environment,
    pin_bytes,
    project_name,
)
from runner.backends.owner import (
    LABEL_OWNER_HOST,
    LABEL_OWNER_PID,
    LABEL_OWNER_START,
    this_owner,
)
from runner.clock import Clock, SystemClock
from runner.consumers.defects import ConsumerDefect
from runner.errors import EnvironmentProblem
from runner.faults import docker as container_faults
from runner.faults.toxiproxy import ToxiproxyControl
from runner.images import (
    DEFAULT_MEMORYKERNEL_REPO,
    choose_toxiproxy_image,
    consumer_image,
    memorykernel_image,
    missing_image_message,
    missing_images,
    runtime_image,
)
from runner.record import MemoryKernelIdentity

__all__ = ["ComposeEnvironment", "describe_all", "reset_all"]

# In the Toxiproxy container's own loopback, where nothing listens (tcpmux's port).
NOTHING_LISTENING = "127.0.0.1:1"

log = logging.getLogger(__name__)

# A container that went away (stopped, paused) must not hold up the restore that replaces it.
_CONTRACT_ASK_TIMEOUT_S = 0.3


def owner_variables() -> dict[str, str]:
    """The compose file's owner labels: this runner, so `env reset` spares the run while it lives."""
    owner = this_owner()
    return {
        "MKDRILL_OWNER_PID": owner[LABEL_OWNER_PID],
        "MKDRILL_OWNER_START": owner[LABEL_OWNER_START],
        "MKDRILL_OWNER_HOST": owner[LABEL_OWNER_HOST],
    }


class ComposeEnvironment(Environment):
    """One run's containers on the local Docker engine, created from compose/docker-compose.yml."""

    kind = "compose"

    def __init__(
        self,
        run_id: str,
        *,
        memorykernel_image: str | None = None,
        consumer_image: str | None = None,
        consumer_url: str | None = None,
        admin_token: str | None = None,
        toxiproxy_image: str | None = None,
        proxy_listen: str | None = None,
        docker_url: str | None = None,
        compose_file: Path = COMPOSE_FILE,
        health_timeout_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.run_id = run_id
        self.project = project_name(run_id)
        self._mk_repo = memorykernel_image or DEFAULT_MEMORYKERNEL_REPO
        self._consumer_image = consumer_image
        self._external_consumer = consumer_url.rstrip("/") if consumer_url else None
        self._toxiproxy_image = toxiproxy_image
        # Our consumer gets a fresh token; a consumer of yours brings the one it was started with.
        if admin_token is None:
            admin_token = os.environ.get(ADMIN_TOKEN_ENV, "") if consumer_url else new_admin_token()
        self._admin_token = admin_token
        self._proxy_publish = proxy_listen or f"{LOOPBACK}:"  # no port: the engine picks one
        self._docker_url = docker_url
        self._compose_file = compose_file
        self._health_timeout_s = health_timeout_s
        self._clock = clock or SystemClock()
        self._client: docker.DockerClient | None = None
        self._http = httpx.Client(timeout=2.0)
        self._toxiproxy: ToxiproxyControl | None = None
        self._toxiproxy_kind = ""
        self._ports: dict[str, int] = {}
        self._release = ""
        self._consumer: ConsumerSettings | None = None
        self._closed = False
        self.up_seconds: float | None = None
        self._identities: dict[str, MemoryKernelIdentity] = {}
        self._images: dict[str, str] = {}

    # Lifecycle ---------------------------------------------------------------------------------

    def up(self, release: str, consumer: ConsumerSettings | None) -> Endpoints:
        """`consumer` None: no reference consumer (yours reaches the proxy published on the host)."""
        client = self._docker()
        started = self._clock.now()
        toxiproxy = choose_toxiproxy_image(client, self._toxiproxy_image)
        consumer_tag = self._consumer_image or consumer_image()
        reference = consumer is not None and self._external_consumer is None
        wanted = [memorykernel_image(release, self._mk_repo), toxiproxy]
        if reference:
            wanted.append(consumer_tag)
        for tag in missing_images(client, wanted):
            raise EnvironmentProblem(self._missing_image_message(tag))
        for tag in wanted:
            self._note_image(tag)
        services = [MEMORYKERNEL, TOXIPROXY] + ([CONSUMER] if reference else [])
        variables = {
            "MKDRILL_RUN_ID": self.run_id,
            "MKDRILL_MEMORYKERNEL_IMAGE": self._mk_repo,
            "MKDRILL_MEMORYKERNEL_TAG": release,
            "MKDRILL_TOXIPROXY_IMAGE": toxiproxy,
            "MKDRILL_CONSUMER_IMAGE": consumer_tag,
            "MKDRILL_CONSUMER_PIN": f"{PIN_DIR}/{PIN_FILE}",
            "MKDRILL_PROXY_PUBLISH": self._proxy_publish,
            **owner_variables(),
            ADMIN_TOKEN_ENV: self._admin_token,
        }
        if consumer is not None:
            variables["MKDRILL_CONSUMER_ASK_BODY"] = consumer.ask_body
        try:
            compose_create(
                self.project, variables, services,
                compose_file=self._compose_file, docker_url=self._docker_url,
            )  # fmt: skip
            self._release = release
            self._start(MEMORYKERNEL)
            self._start(TOXIPROXY)
            if reference:
                assert consumer is not None
                self._start_consumer(self._container(CONSUMER), consumer, fresh=True)
            self._toxiproxy_kind = self._describe_toxiproxy(toxiproxy)
            self._wait_memorykernel(release)
            self._note_contract(release)
            if reference:
                self._wait_consumer()
            elif consumer is not None:
                self._attach_external_consumer(consumer)
            self._consumer = consumer
        except BaseException:
            self._remove_all()
            raise
        self.up_seconds = self._clock.now() - started
        log.info("compose environment %s up in %.1f s", self.project, self.up_seconds)
        return self.endpoints()

    def endpoints(self) -> Endpoints:
        """Where the runner reaches each service (published on 127.0.0.1)."""
        consumer_url = self._external_consumer or (
            self._url(CONSUMER_PORT) if CONSUMER_PORT in self._ports else ""
        )
        return Endpoints(
            consumer_url=consumer_url,
            memorykernel_url=self._url(MK_PORT),
            toxiproxy_url=self._url(API_PORT),
            proxy_name=PROXY_NAME,
            proxy_listen=self.proxy_url.removeprefix("http://"),
            admin_token=self._admin_token,
        )

    @property
    def proxy_url(self) -> str:
        """MemoryKernel through the Toxiproxy proxy, as the runner's host reaches it."""
        return self._url(PROXY_PORT)

    def down(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._client is not None:
                self._remove_all()
        finally:
            self._http.close()
            if self._client is not None:
                self._client.close()

    def status(self) -> list[ServiceStatus]:
        client = self._docker()
        rows = []
        for container in list_containers(client, run_filters(self.run_id)):
            role = container.labels.get(LABEL_ROLE, "?")
            image = container.attrs.get("Config", {}).get("Image", "")
            rows.append(ServiceStatus(role, state_text(container), f"{container.name} {image}"))
        return sorted(rows, key=lambda row: row.name)

    @property
    def toxiproxy_kind(self) -> str:
        return self._toxiproxy_kind

    @property
    def toxiproxy(self) -> ToxiproxyControl:
        """The Toxiproxy API in front of MemoryKernel."""
        if self._toxiproxy is None:
            raise EnvironmentProblem(f"compose environment {self.project} is not up")
        return self._toxiproxy

    # MemoryKernel ------------------------------------------------------------------------------

    @property
    def memorykernel_release(self) -> str:
        return self._release

    def memorykernel_upstream(self) -> str:
        return MK_UPSTREAM

    def stop_memorykernel(self) -> None:
        self._proxy_to_nothing_listening()
        container_faults.stop_container(self._docker(), self._container(MEMORYKERNEL))

    def kill_memorykernel(self) -> None:
        self._proxy_to_nothing_listening()
        container_faults.kill_container(self._docker(), self._container(MEMORYKERNEL))

    def _proxy_to_nothing_listening(self) -> None:
        """Before MemoryKernel's container goes: what a stopped service shows, nothing listening.

        Its address goes with it, and a dial in flight to an address nobody holds gets no RST: it
        hangs in SYN-SENT, and with it a Toxiproxy's whole accept loop (one client at a time, no
        dial timeout) until a SYN retry after MemoryKernel is back, seconds later and backing off.
        A port nothing listens on refuses at once, as the local backend's closed port does;
        `start_memorykernel` points the proxy back.
        """
        current = self.toxiproxy.proxy(PROXY_NAME) or {}
        if current.get("upstream") == MK_UPSTREAM:
            self.toxiproxy.set_upstream(PROXY_NAME, NOTHING_LISTENING)

    def pause_memorykernel(self) -> None:
        container_faults.pause_container(self._docker(), self._container(MEMORYKERNEL))

    def unpause_memorykernel(self) -> None:
        container_faults.unpause(self._docker(), str(self._container(MEMORYKERNEL).name))

    def start_memorykernel(self, release: str, database: DatabaseState = "normal") -> None:
        client = self._docker()
        image = memorykernel_image(release, self._mk_repo)
        # The one going away answered health since it started (a deploy waits for that): note
        # what, once, before its container is replaced.
        self._note_contract_once(self._release)
        if missing_images(client, [image]):
            raise EnvironmentProblem(self._missing_image_message(image))
        command = database_command(database)
        created = recreate(
            client, self._container(MEMORYKERNEL), image=image, command=command,
            ports={MK_PORT: self._ports[MK_PORT]}, aliases=[MEMORYKERNEL],
        )  # fmt: skip
        if database in BROKEN_DATABASE_FILES:
            put_files(created, DATA_DIR, BROKEN_DATABASE_FILES[database])
        self._start_container(created)
        self._release = release
        self._note_image(image)
        current = self.toxiproxy.proxy(PROXY_NAME) or {}
        if current.get("upstream") != MK_UPSTREAM:
            self.toxiproxy.set_upstream(PROXY_NAME, MK_UPSTREAM)
        log.info("memorykernel now %s (database %s)", image, database)

    def memorykernel_identities(self) -> dict[str, MemoryKernelIdentity]:
        self._note_contract_once(self._release)
        return dict(self._identities)

    def images(self) -> dict[str, str]:
        return dict(self._images)

    def proxy_pid(self) -> int | None:
        try:
            container = self._container(TOXIPROXY)
            container.reload()
        except (EnvironmentProblem, APIError):
            return None
        pid = int(container.attrs.get("State", {}).get("Pid") or 0)
        return pid or None

    def describe_memorykernel(self) -> str:
        try:
            container = self._container(MEMORYKERNEL)
            container.reload()
        except (EnvironmentProblem, APIError) as exc:
            return f"memorykernel container of run {self.run_id}: {exc}"
        state = container.attrs.get("State", {})
        status = str(state.get("Status", "?"))
        if status in ("exited", "dead"):
            status += f" with code {state.get('ExitCode')}"
        return (
            f"container {container.name} ({container.attrs.get('Config', {}).get('Image', '')}) "
            f"{status}; last log lines: {logs_tail(container, 5) or 'no output'}"
        )

    def _note_contract_once(self, release: str | None) -> None:
        """`_note_contract` for a release whose identity has no contract yet; a quick ask only."""
        identity = self._identities.get(release) if release else None
        if release and identity is not None and identity.service_contract_version is None:
            self._note_contract(release, timeout_s=_CONTRACT_ASK_TIMEOUT_S)

    def _note_contract(self, release: str, timeout_s: float | None = None) -> None:
        """What the MemoryKernel of `release` answered on /v1/health, into its identity."""
        identity = self._identities.get(release)
        if identity is None or MK_PORT not in self._ports:
            return
        try:
            url = f"{self._url(MK_PORT)}/v1/health"
            answer = (
                self._http.get(url) if timeout_s is None else self._http.get(url, timeout=timeout_s)
            )
            version = answer.json()
            contract = version.get("service_contract_version")
        except (httpx.HTTPError, ValueError, AttributeError):
            return
        self._identities[release] = identity.model_copy(
            update={"service_contract_version": contract if isinstance(contract, str) else None}
        )

    def _note_image(self, tag: str) -> None:
        """Remember the image ID of `tag`, and for a MemoryKernel release its identity."""
        try:
            image = self._docker().images.get(tag)
        except (ImageNotFound, APIError):
            return
        image_id = str(image.id)
        self._images[tag] = image_id
        release = tag.rsplit(":", 1)[-1]
        known = self._identities.get(release)
        if tag == memorykernel_image(release, self._mk_repo) and (
            known is None or known.digest != image_id
        ):
            digests = image.attrs.get("RepoDigests") or []
            self._identities[release] = MemoryKernelIdentity(
                release=release,
                kind="image",
                name=f"{tag} ({digests[0]})" if digests else tag,
                digest=image_id,
            )

    def run_sql(self, statement: str) -> None:
        self._note_image(runtime_image())
        try:
            run_sql(
                self._docker(),
                self._container(MEMORYKERNEL),
                statement,
                runtime_image(),
                self.run_id,
            )
        except ImageNotFound as exc:
            raise EnvironmentProblem(missing_image_message(runtime_image())) from exc

    def disconnect_network(self) -> None:
        client = self._docker()
        network = client.networks.get(self._network_name())
        container = self._container(MEMORYKERNEL)
        container_faults.disconnect_container(client, network, container, [MEMORYKERNEL])

    def reconnect_network(self) -> None:
        client = self._docker()
        name = str(self._container(MEMORYKERNEL).name)
        container_faults.reconnect(client, self._network_name(), name, [MEMORYKERNEL])

    # Consumer ----------------------------------------------------------------------------------

    def restart_consumer(self, consumer: ConsumerSettings) -> None:
        if self._external_consumer is not None:
            self._restart_external_consumer(consumer)
            return
        self._start_consumer(self._container(CONSUMER), consumer, fresh=False)
        self._consumer = consumer
        self._wait_consumer()

    def set_consumer_env(self, values: dict[str, str | None]) -> None:
        url = self.endpoints().consumer_url + "/v1/admin/env"
        try:
            self._http.post(
                url, json=values, headers=admin_headers(self._admin_token)
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"cannot set consumer env at {url}: {exc}") from exc

    # Fault responder ---------------------------------------------------------------------------

    def start_responder(self, mode: str) -> str:
        self.stop_responder()
        self._note_image(runtime_image())
        container, upstream, url = start_responder_container(
            self._docker(), self.run_id, self.project, self._network_name(), mode
        )
        wait_for_http(
            self._http, f"{url}/__responder/mode", what="fault responder",
            timeout_s=self._health_timeout_s, clock=self._clock, container=container,
        )  # fmt: skip
        return upstream

    def stop_responder(self) -> None:
        if self._client is not None and not self._closed:
            remove_responder_container(self._client, self.run_id)

    # Internals ---------------------------------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        if self._closed:
            raise EnvironmentProblem(f"compose environment {self.project} is already down")
        if self._client is None:
            self._client = connect(self._docker_url)
        return self._client

    def _container(self, role: str) -> Container:
        container = find_container(self._docker(), self.run_id, role)
        if container is None:
            raise EnvironmentProblem(
                f"no {role} container of run {self.run_id} on the Docker engine; is the environment up?"
            )
        return container

    def _network_name(self) -> str:
        networks = self._docker().networks.list(filters=run_filters(self.run_id, NETWORK_ROLE))
        if not networks:
            raise EnvironmentProblem(f"no network of run {self.run_id}; is the environment up?")
        return str(networks[0].name)

    def _url(self, container_port: str) -> str:
        return f"http://{LOOPBACK}:{self._ports.get(container_port, 0)}"

    def _start(self, role: str) -> None:
        self._start_container(self._container(role))

    def _start_container(self, container: Container) -> None:
        try:
            container.start()
        except APIError as exc:
            raise EnvironmentProblem(
                f"cannot start container {container.name}: {error_reason(exc)}"
            ) from exc
        container.reload()
        role = container.labels.get(LABEL_ROLE, "")
        for port in PUBLISHED.get(role, ()):
            published = published_port(container, port)
            if published is None:
                raise EnvironmentProblem(f"container {container.name} publishes no port for {port}")
            self._ports[port] = published

    def _describe_toxiproxy(self, image: str) -> str:
        api = self._url(API_PORT)
        wait_for_http(
            self._http, f"{api}/version", what=f"Toxiproxy ({image})",
            timeout_s=self._health_timeout_s, clock=self._clock,
            container=self._container(TOXIPROXY),
        )  # fmt: skip
        self._toxiproxy = ToxiproxyControl(api)
        self._toxiproxy.ensure_proxy(PROXY_NAME, PROXY_LISTEN, MK_UPSTREAM)
        if image.split(":", 1)[0].endswith("mkdrill-toxiproxy"):
            return f"embedded ({image})"
        return f"toxiproxy-server {self._toxiproxy.version()} ({image})"

    def _wait_memorykernel(self, release: str) -> None:
        check, expectation = health_check(release)
        wait_for_http(
            self._http, f"{self._url(MK_PORT)}/v1/health",
            what=f"MemoryKernel ({memorykernel_image(release, self._mk_repo)})",
            timeout_s=self._health_timeout_s, clock=self._clock, check=check,
            expectation=expectation, container=self._container(MEMORYKERNEL),
        )  # fmt: skip

    def _start_consumer(
        self, container: Container, consumer: ConsumerSettings, *, fresh: bool
    ) -> None:
        """Configure the consumer container for `consumer` (recreated unless fresh), then start it.

        A fresh container from `up --no-start` already has the command; only extra variables
        or a defect need a new one.
        """
        if not fresh or consumer.env or consumer.defect is not ConsumerDefect.NONE:
            pinned = (
                {CONSUMER_PORT: self._ports[CONSUMER_PORT]}
                if CONSUMER_PORT in self._ports
                else None
            )
            container = recreate(
                self._docker(), container, command=consumer_command(consumer),
                environment=consumer_environment(consumer, self._admin_token), ports=pinned, aliases=[CONSUMER],
            )  # fmt: skip
        put_files(container, PIN_DIR, {PIN_FILE: pin_bytes(consumer)}, mode=0o644)
        self._start_container(container)

    def _wait_consumer(self) -> None:
        wait_for_http(
            self._http, f"{self._url(CONSUMER_PORT)}/v1/health", what="AssistSupport consumer",
            timeout_s=self._health_timeout_s, clock=self._clock,
            container=self._container(CONSUMER),
        )  # fmt: skip

    def _attach_external_consumer(self, consumer: ConsumerSettings) -> None:
        assert self._external_consumer is not None
        wait_for_http(
            self._http, f"{self._external_consumer}/v1/health", what="consumer",
            timeout_s=self._health_timeout_s, clock=self._clock,
        )  # fmt: skip
        env: dict[str, str | None] = {"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": self.proxy_url}
        env.update(consumer.env)
        self.set_consumer_env(env)

    def _restart_external_consumer(self, consumer: ConsumerSettings) -> None:
        current = self._consumer
        if current is not None and (
            (consumer.pin, consumer.ask_body, consumer.defect)
            != (current.pin, current.ask_body, current.defect)
        ):
            raise EnvironmentProblem(
                f"the consumer at {self._external_consumer} is not started by mkdrill: restart it "
                f"yourself with pin {consumer.pin.release_tag}, ask body {consumer.ask_body}, "
                f"defect {consumer.defect.value}"
            )
        env: dict[str, str | None] = {"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": self.proxy_url}
        env.update(consumer.env)
        self.set_consumer_env(env)
        self._consumer = consumer

    def _missing_image_message(self, tag: str) -> str:
        return missing_image_message(tag, self._mk_repo)

    def _remove_all(self) -> None:
        if self._client is not None:
            sweep(self._client, self.run_id)
        self._toxiproxy = None
        self._ports.clear()
