"""The embedded default: MemoryKernel, Toxiproxy and the Draft consumer as processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from runner.backends.admin_token import ADMIN_TOKEN_ENV, admin_headers, new_admin_token
from runner.backends.base import (
    ConsumerSettings,
    DatabaseState,
    Endpoints,
    Environment,
    ServiceStatus,
    defect_arguments,
)
from runner.backends.memorykernel_local import MemoryKernelBinaries
from runner.backends.processes import (
    OWNER_PID_VAR,
    ManagedProcess,
    log_tail,
    start_answering,
    start_service,
    write_state,
)
from runner.errors import EnvironmentProblem
from runner.faults.toxiproxy import ToxiproxyControl, find_toxiproxy_server
from runner.record import MemoryKernelIdentity
from runner.reports.redact import mask_url_credentials
from runner.tls import shared_ssl_context

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel just handed out; free again once this returns."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalEnvironment(Environment):
    """Processes on loopback with ephemeral ports. `down()` stops all of them and removes their files."""

    kind = "local"

    def __init__(
        self,
        state_dir: Path,
        run_id: str,
        toxiproxy_url: str | None = None,
        *,
        outlive_owner: bool = False,
        memorykernel: MemoryKernelBinaries | None = None,
        proxy_listen: str | None = None,
    ) -> None:
        """`outlive_owner`: the services keep running after this process ends (`mkdrill env up`).

        `memorykernel`: binaries of one's own per release (default: the reference for every release).
        `proxy_listen`: `host:port` of the MemoryKernel proxy (default: a free loopback port).
        """
        self._mk_binaries = memorykernel or MemoryKernelBinaries()
        self._identities: dict[str, MemoryKernelIdentity] = {}
        self._state_dir = state_dir
        # Services of a run watch the runner's pid and stop themselves if it dies (even by SIGKILL),
        # so a killed runner leaves nothing behind even in the instant before its state file names them.
        self._child_env = {} if outlive_owner else {OWNER_PID_VAR: str(os.getpid())}
        self._run_id = run_id
        self._scratch = state_dir / run_id
        self._external_toxiproxy = toxiproxy_url
        self._admin_token = new_admin_token()
        self._processes: dict[str, ManagedProcess] = {}
        self._toxiproxy: ToxiproxyControl | None = None
        self._toxiproxy_kind = "embedded"
        self._proxy_name = f"mkdrill_{run_id}_memorykernel"
        self._fixed_listen = proxy_listen
        self._proxy_listen = ""
        self._mk_port = 0
        self._release = ""
        self._consumer: ConsumerSettings | None = None
        self._consumer_port = 0
        self._responder: object | None = None
        self._network_cut: list[Callable[[], None]] = []
        self._http = httpx.Client(timeout=2.0, verify=shared_ssl_context())
        self._state_lock = threading.Lock()

    # Lifecycle ---------------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self._state_dir / f"{self._run_id}.json"

    def up(self, release: str, consumer: ConsumerSettings | None) -> Endpoints:
        self._scratch.mkdir(parents=True, exist_ok=True)
        # The three processes do not need each other to start (the consumer only needs the proxy's
        # address, picked here), so they start side by side; the proxy is made once both ends run.
        self._proxy_listen = self._fixed_listen or f"{LOOPBACK}:{free_port()}"
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="env-up") as pool:
            started = [
                pool.submit(self._start_toxiproxy),
                pool.submit(self.start_memorykernel, release),
            ]
            if consumer is not None:
                self._start_consumer(consumer)
        for future in started:
            future.result()
        assert self._toxiproxy is not None
        self._proxy_listen = self._toxiproxy.ensure_proxy(
            self._proxy_name, self._proxy_listen, self.memorykernel_upstream()
        )
        self._save_state()
        return self.endpoints()

    def endpoints(self) -> Endpoints:
        """Where the runner reaches each service."""
        consumer = self._processes.get("assistsupport")
        return Endpoints(
            consumer_url=consumer.url if consumer is not None else "",
            memorykernel_url=f"http://{LOOPBACK}:{self._mk_port}",
            toxiproxy_url=self._toxiproxy.api_url if self._toxiproxy else "",
            proxy_name=self._proxy_name,
            proxy_listen=self._proxy_listen,
            admin_token=self._admin_token,
        )

    def down(self) -> None:
        self.stop_responder()
        processes = [
            process
            for name in ("assistsupport", "memorykernel", "toxiproxy")
            if (process := self._processes.pop(name, None)) is not None
        ]
        # Each stop waits for its process to exit: stop them side by side.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="env-down") as pool:
            for stopping in [pool.submit(process.stop) for process in processes]:
                stopping.result()
        if self._external_toxiproxy and self._toxiproxy is not None:
            with contextlib.suppress(Exception):
                self._toxiproxy.delete_proxy(self._proxy_name)
        self._http.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def status(self) -> list[ServiceStatus]:
        rows = []
        for name, process in self._processes.items():
            state = "running" if process.running() else f"exited ({process.process.returncode})"
            rows.append(ServiceStatus(name, state, f"{process.url} pid {process.pid}"))
        return rows

    @property
    def toxiproxy_kind(self) -> str:
        return self._toxiproxy_kind

    def proxy_pid(self) -> int | None:
        process = self._processes.get("toxiproxy")
        return process.pid if process is not None else None

    def scratch_dir(self) -> Path | None:
        return self._scratch

    def _save_state(self) -> None:
        extra = {
            "run_id": self._run_id,
            "proxy": self._proxy_name,
            "toxiproxy_url": mask_url_credentials(self._toxiproxy.api_url)
            if self._toxiproxy
            else "",
        }
        with self._state_lock:  # up() starts processes on several threads
            write_state(self.state_file, os.getpid(), list(self._processes.values()), extra)

    def _log(self, name: str) -> Path:
        return self._scratch / f"{name}.log"

    def _start_toxiproxy(self) -> None:
        if self._external_toxiproxy:
            self._toxiproxy = ToxiproxyControl(self._external_toxiproxy)
            self._toxiproxy_kind = f"external {mask_url_credentials(self._external_toxiproxy)} ({self._toxiproxy.version()})"
            return
        binary = find_toxiproxy_server()
        if binary:
            port = free_port()
            process = _start_real_toxiproxy(binary, port, self._log("toxiproxy"))
            self._processes["toxiproxy"] = process
            self._toxiproxy = ToxiproxyControl(process.url)
            self._toxiproxy_kind = f"toxiproxy-server {self._toxiproxy.version()}"
        else:
            process = start_service(
                "toxiproxy",
                ["toxiproxy", "--host", LOOPBACK, "--port", "0"],
                self._log("toxiproxy"),
                env=self._child_env,
            )
            self._processes["toxiproxy"] = process
            self._toxiproxy = ToxiproxyControl(process.url)
            self._toxiproxy_kind = "embedded"
        self._save_state()

    # MemoryKernel ------------------------------------------------------------------------------

    @property
    def memorykernel_release(self) -> str:
        return self._release

    def memorykernel_upstream(self) -> str:
        return f"{LOOPBACK}:{self._mk_port}"

    def _database_path(self, database: DatabaseState) -> Path:
        normal = self._scratch / "memorykernel.sqlite3"
        if database == "normal":
            return normal
        if database == "directory":
            path = self._scratch / "db-is-a-directory"
            path.mkdir(exist_ok=True)
            return path
        if database == "corrupt":
            path = self._scratch / "corrupt.sqlite3"
            path.write_bytes(b"this is not an SQLite database\n" * 64)
            return path
        return self._scratch / "no-such-parent" / "memorykernel.sqlite3"

    def start_memorykernel(self, release: str, database: DatabaseState = "normal") -> None:
        current = self._processes.pop("memorykernel", None)
        if current is not None:
            current.stop()
        db = self._database_path(database)
        identity = self._mk_binaries.identity(release)

        def start() -> ManagedProcess:
            # The real binary takes a fixed --bind and announces nothing: the port is picked here
            # (kept across restarts, so the proxy's upstream stays) and readiness is health.
            port = self._mk_port or free_port()
            url = f"http://{LOOPBACK}:{port}"
            argv = self._mk_binaries.argv(release, f"{LOOPBACK}:{port}", db)
            return start_answering(
                f"memorykernel {release}", argv, self._log("memorykernel"), url,
                env=self._child_env,
            )  # fmt: skip

        process = _start_retrying_port(start)
        self._processes["memorykernel"] = process
        self._mk_port = int(process.url.rsplit(":", 1)[1])
        self._release = release
        self._identities[release] = identity.model_copy(
            update={"service_contract_version": self._health_contract(process.url)}
        )
        self._save_state()

    def _health_contract(self, url: str) -> str | None:
        with contextlib.suppress(httpx.HTTPError, ValueError, AttributeError):
            version = self._http.get(f"{url}/v1/health").json().get("service_contract_version")
            return str(version) if version is not None else None
        return None

    def memorykernel_identities(self) -> dict[str, MemoryKernelIdentity]:
        given = {tag: self._mk_binaries.identity(tag) for tag in self._mk_binaries.binaries}
        return {**given, **self._identities}

    def describe_memorykernel(self) -> str:
        process = self._memorykernel()
        if process is None:
            return f"memorykernel {self._release} (not started)"
        code = process.process.poll()
        state = "running" if code is None else f"exited with code {code}"
        return (
            f"process {process.name} ({process.argv[0]}, pid {process.pid}) {state}; "
            f"last log lines: {log_tail(process.log_path)}"
        )

    def _memorykernel(self) -> ManagedProcess | None:
        return self._processes.get("memorykernel")

    def stop_memorykernel(self) -> None:
        process = self._memorykernel()
        if process is not None:
            process.stop()

    def kill_memorykernel(self) -> None:
        process = self._memorykernel()
        if process is not None:
            process.kill()

    def pause_memorykernel(self) -> None:
        process = self._memorykernel()
        if process is not None:
            process.signal(19)  # SIGSTOP

    def unpause_memorykernel(self) -> None:
        process = self._memorykernel()
        if process is not None:
            process.signal(18)  # SIGCONT

    def run_sql(self, statement: str) -> None:
        path = self._database_path("normal")
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=5.0)) as db:
                db.execute(statement)
                db.commit()
        except sqlite3.Error as exc:
            raise EnvironmentProblem(f"SQL on {path} failed: {exc}") from exc

    def disconnect_network(self) -> None:
        # No network namespace locally: a blackhole in both directions looks the same to the consumer.
        assert self._toxiproxy is not None
        if self._network_cut:
            return
        for stream in ("upstream", "downstream"):
            self._network_cut.append(
                self._toxiproxy.add_toxic(self._proxy_name, "timeout", stream, {"timeout": 0})
            )

    def reconnect_network(self) -> None:
        while self._network_cut:
            self._network_cut.pop()()

    # Consumer ----------------------------------------------------------------------------------

    def _start_consumer(self, consumer: ConsumerSettings) -> None:
        env = {
            "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": f"http://{self._proxy_listen}",
            **consumer.env,
            ADMIN_TOKEN_ENV: self._admin_token,
        }
        args = [
            "assistsupport",
            "--pin",
            str(consumer.pin.source),
            "--host",
            LOOPBACK,
            "--port",
            str(self._consumer_port),
            "--ask-body",
            consumer.ask_body,
            *defect_arguments(consumer),
        ]
        process = _start_retrying_port(
            lambda: start_service(
                "assistsupport", args, self._log("assistsupport"), env={**env, **self._child_env}
            )
        )
        self._processes["assistsupport"] = process
        self._consumer_port = int(process.url.rsplit(":", 1)[1])
        self._consumer = consumer
        self._save_state()

    def restart_consumer(self, consumer: ConsumerSettings) -> None:
        current = self._processes.pop("assistsupport", None)
        if current is not None:
            current.stop()
        self._start_consumer(consumer)

    def set_consumer_env(self, values: dict[str, str | None]) -> None:
        url = self._processes["assistsupport"].url + "/v1/admin/env"
        try:
            self._http.post(
                url, json=values, headers=admin_headers(self._admin_token)
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"cannot set consumer env at {url}: {exc}") from exc

    # Responder ---------------------------------------------------------------------------------

    def start_responder(self, mode: str) -> str:
        from runner.faults.responder import FaultResponder

        self.stop_responder()
        responder = FaultResponder(
            f"http://{self.memorykernel_upstream()}", mode, host=LOOPBACK, port=0
        )
        responder.start()
        self._responder = responder
        return f"{LOOPBACK}:{responder.port}"

    def stop_responder(self) -> None:
        responder, self._responder = self._responder, None
        if responder is not None:
            responder.stop()  # type: ignore[attr-defined]

    @property
    def toxiproxy(self) -> ToxiproxyControl:
        """The Toxiproxy API in front of MemoryKernel."""
        assert self._toxiproxy is not None, "environment is not up"
        return self._toxiproxy


def _start_retrying_port(start: Callable[[], ManagedProcess]) -> ManagedProcess:
    """A restart on the same port can race the kernel releasing it: retry briefly."""
    deadline = time.monotonic() + 3.0
    while True:
        try:
            return start()
        except EnvironmentProblem as exc:
            if "in use" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _start_real_toxiproxy(binary: str, port: int, log_path: Path) -> ManagedProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [binary, "-host", LOOPBACK, "-port", str(port)],
            stdout=log_file,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/version", timeout=0.5).status_code == 200:
                return ManagedProcess("toxiproxy", [binary], process, url, log_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise EnvironmentProblem(
        f"{binary} did not answer on {url}/version within 10 s (log: {log_path})"
    )
