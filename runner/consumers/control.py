"""Apply consumer-side faults and overrides to the consumer under test, and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from runner.backends.base import ConsumerSettings, Environment
from runner.consumers.defects import ConsumerDefect
from runner.consumers.restart import consumer_environment, run_restart_command
from runner.consumers.target import BASE_URL_VAR, ConsumerKind, ConsumerTarget
from runner.errors import EnvironmentProblem, InjectionError
from runner.probes.draft import CommandProbe, HttpDraftProbe, Probe
from runner.probes.loadgen import LoadTarget


class ConsumerControl(Protocol):
    """What faults and drill overrides may do to the consumer under test."""

    @property
    def restarts_on_env(self) -> bool:
        """Setting a variable restarts the consumer (the probe pauses meanwhile)."""

    @property
    def can_restart(self) -> bool:
        """mkdrill can restart it (the reference one, or yours with a restart command)."""

    def set_env(self, values: Mapping[str, str | None]) -> None:
        """Set (None: unset) AssistSupport variables, read fresh per Draft."""

    def restart(self, settings: ConsumerSettings) -> None:
        """Run it with other settings (another pin) and wait until it answers Drafts."""


class ReferenceControl:
    """The reference consumer: the environment started it and changes it."""

    restarts_on_env = False
    can_restart = True

    def __init__(self, env: Environment, consumer_url: str = "") -> None:
        self._env = env
        self._consumer_url = consumer_url

    def set_env(self, values: Mapping[str, str | None]) -> None:
        self._env.set_consumer_env(dict(values))

    def restart(self, settings: ConsumerSettings) -> None:
        self._env.restart_consumer(settings)
        self.confirm(settings.defect)

    def confirm(self, defect: ConsumerDefect) -> None:
        """A defect asked for is the one the consumer runs (its health answer names it)."""
        if defect is not ConsumerDefect.NONE:
            confirm_defect(self._consumer_url, defect)


def confirm_defect(consumer_url: str, defect: ConsumerDefect) -> None:
    """EnvironmentProblem unless the reference consumer's `/v1/health` says it runs `defect`.

    A consumer that ignored the defect would pass every drill a mutant should fail: that must
    never read as a drill with no teeth.
    """
    url = f"{consumer_url}/v1/health"
    try:
        answer = httpx.get(url, timeout=5.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise EnvironmentProblem(f"the reference consumer at {url} did not answer: {exc}") from exc
    said = answer.get("defect", "none") if isinstance(answer, dict) else "none"
    if said != defect.value:
        raise EnvironmentProblem(
            f"the reference consumer at {url} runs defect {said!r}, not {defect.value!r}: its "
            "code predates consumer defects (compose: rebuild its image with mkdrill images build)"
        )


class OwnConsumer:
    """Your consumer: variables per call (command) or through your restart command (URL)."""

    def __init__(self, target: ConsumerTarget, settings: ConsumerSettings) -> None:
        self.target = target
        self._settings = settings
        self._variables: dict[str, str] = dict(settings.env)
        self._lock = threading.Lock()

    @property
    def restarts_on_env(self) -> bool:
        return self.target.kind is ConsumerKind.URL

    @property
    def can_restart(self) -> bool:
        return self.target.swaps_pin

    def attach(self, proxy_listen: str) -> None:
        """Point it at the proxy: every call (command), or a first restart (URL + restart command)."""
        with self._lock:
            self._variables[BASE_URL_VAR] = f"http://{proxy_listen}"
        if self.target.kind is ConsumerKind.URL and self.target.restart_command:
            self._run_restart()

    def variables(self) -> dict[str, str]:
        """AssistSupport's variables as mkdrill sets them now."""
        with self._lock:
            return dict(self._variables)

    def set_env(self, values: Mapping[str, str | None]) -> None:
        if not self.target.sets_env:
            raise InjectionError(self.target.cannot_set_env())
        with self._lock:
            for name, value in values.items():
                if value is None:
                    self._variables.pop(name, None)
                else:
                    self._variables[name] = value
        if self.target.kind is ConsumerKind.URL:
            self._run_restart()

    def restart(self, settings: ConsumerSettings) -> None:
        if not self.target.swaps_pin:
            raise InjectionError(self.target.cannot_swap_pin())
        self._settings = settings
        self._run_restart()

    def _run_restart(self) -> None:
        command = self.target.restart_command
        assert command is not None
        draft_url = self.target.target if self.target.kind is ConsumerKind.URL else None
        run_restart_command(command, self.variables(), self._settings.pin.source, draft_url)

    def load_target(self) -> LoadTarget:
        """Where --load drafts: the same URL, or the same command with the same variables."""
        if self.target.kind is ConsumerKind.COMMAND:
            return LoadTarget(
                command=self.target.target, env=lambda: consumer_environment(self.variables())
            )
        return LoadTarget(url=self.target.target)

    def probe(self, timeout_s: float) -> Probe:
        """A Draft probe of this consumer."""
        if self.target.kind is ConsumerKind.COMMAND:
            return CommandProbe(
                self.target.target, timeout_s, env=lambda: consumer_environment(self.variables())
            )
        return HttpDraftProbe(self.target.target, timeout_s)


ProbeFactory = Callable[[float], Probe]
