"""The Environment interface: where MemoryKernel, Toxiproxy and the Draft consumer run, and what can break."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from runner.consumers.defects import ConsumerDefect
from runner.pins import Pin
from runner.record import MemoryKernelIdentity

AskBody = Literal["shipped", "patched"]
DatabaseState = Literal["normal", "directory", "corrupt", "missing-parent"]

PROXY_NAME = "memorykernel"


@dataclass(frozen=True)
class ConsumerSettings:
    """How the Draft consumer is started: its pin, ask body, defect (none: AssistSupport's rules) and env vars."""

    pin: Pin
    ask_body: AskBody = "patched"
    defect: ConsumerDefect = ConsumerDefect.NONE
    env: dict[str, str] = field(default_factory=dict)


def defect_arguments(consumer: ConsumerSettings) -> list[str]:
    """`--defect NAME` for `mkdrill serve assistsupport`, nothing for AssistSupport's own rules
    (so a consumer image older than the defects still starts healthy)."""
    if consumer.defect is ConsumerDefect.NONE:
        return []
    return ["--defect", consumer.defect.value]


@dataclass(frozen=True)
class Endpoints:
    """Addresses of a running environment, as seen from the runner's host."""

    consumer_url: str
    memorykernel_url: str
    toxiproxy_url: str
    proxy_name: str = PROXY_NAME
    proxy_listen: str = ""  # host:port where consumers reach MemoryKernel through Toxiproxy
    admin_token: str = ""  # the reference consumer's /v1/admin/env token (this environment's own)


@dataclass(frozen=True)
class ServiceStatus:
    """One line of `mkdrill env status`."""

    name: str
    state: str
    detail: str


class Environment(abc.ABC):
    """A place to run drills. Every mutating call is idempotent; `down()` always leaves nothing behind.

    The consumer reaches MemoryKernel only through the Toxiproxy proxy `PROXY_NAME`, so network faults
    and upstream switches apply to every consumer request.
    """

    kind: str

    @abc.abstractmethod
    def up(self, release: str, consumer: ConsumerSettings | None) -> Endpoints:
        """Start everything at `release`, wait until healthy (with deadlines), return the endpoints.

        `consumer` None: start no reference consumer (yours is under test, reaching the proxy).
        """

    @abc.abstractmethod
    def down(self) -> None:
        """Stop and remove everything this environment started. Safe to call twice."""

    @abc.abstractmethod
    def status(self) -> list[ServiceStatus]:
        """What is running now."""

    @property
    @abc.abstractmethod
    def toxiproxy_kind(self) -> str:
        """Which Toxiproxy answers: 'embedded' or 'toxiproxy-server <version>'."""

    # MemoryKernel lifecycle -------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def memorykernel_release(self) -> str:
        """The release tag MemoryKernel runs now."""

    @abc.abstractmethod
    def memorykernel_upstream(self) -> str:
        """`host:port` at which Toxiproxy reaches the current MemoryKernel."""

    @abc.abstractmethod
    def stop_memorykernel(self) -> None:
        """Graceful stop (SIGTERM / docker stop)."""

    @abc.abstractmethod
    def kill_memorykernel(self) -> None:
        """Hard kill (SIGKILL / docker kill)."""

    @abc.abstractmethod
    def pause_memorykernel(self) -> None:
        """Freeze the process (SIGSTOP / docker pause): connections are accepted by the kernel, never answered."""

    @abc.abstractmethod
    def unpause_memorykernel(self) -> None:
        """Undo `pause_memorykernel`."""

    @abc.abstractmethod
    def start_memorykernel(self, release: str, database: DatabaseState = "normal") -> None:
        """(Re)start MemoryKernel at `release` on the environment's database, or on a broken one.

        Returns once the process/container runs; health is the caller's to wait for (it is a milestone).
        The proxy upstream is pointed at it.
        """

    @abc.abstractmethod
    def run_sql(self, statement: str) -> None:
        """Run one SQL statement against MemoryKernel's database file (e.g. plant a future schema row)."""

    @abc.abstractmethod
    def disconnect_network(self) -> None:
        """Cut MemoryKernel off the network the consumer uses."""

    @abc.abstractmethod
    def reconnect_network(self) -> None:
        """Undo `disconnect_network`."""

    # Consumer ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def restart_consumer(self, consumer: ConsumerSettings) -> None:
        """Restart the Draft consumer with other settings (pin, ask body, defect) and wait until it answers."""

    @abc.abstractmethod
    def set_consumer_env(self, values: dict[str, str | None]) -> None:
        """Set (or unset with None) AssistSupport env vars in the running consumer; read fresh per call."""

    # Fault responder ---------------------------------------------------------------------------

    @abc.abstractmethod
    def start_responder(self, mode: str) -> str:
        """Start an HTTP fault responder in front of MemoryKernel; return the `host:port` Toxiproxy can reach."""

    @abc.abstractmethod
    def stop_responder(self) -> None:
        """Stop the responder if one runs."""

    def memorykernel_identities(self) -> dict[str, MemoryKernelIdentity]:
        """Release tag → the MemoryKernel (reference, binary or image) that served it in this environment."""
        return {}

    def describe_memorykernel(self) -> str:
        """The running MemoryKernel for an error message: process or container, state, exit code, last log lines."""
        return f"MemoryKernel {self.memorykernel_release}"

    def images(self) -> dict[str, str]:
        """Image reference → image ID of every image this environment ran (none for processes)."""
        return {}

    def scratch_dir(self) -> Path | None:
        """A folder for this environment's files, when it has one on the runner's host."""
        return None

    def proxy_pid(self) -> int | None:
        """A process in the network namespace where the proxy listens, for socket evidence
        (/proc/<pid>/net/tcp); None when mkdrill does not run the proxy."""
        return None
