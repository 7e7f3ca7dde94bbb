"""Waiting for a container's HTTP endpoint to answer as expected, with a deadline and the reason why not."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
from docker.errors import NotFound
from docker.models.containers import Container

from runner.backends.docker_containers import logs_tail
from runner.clock import Clock
from runner.errors import EnvironmentProblem

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.05
# Each HTTP attempt is short so a paused or hung service cannot eat the deadline in one call.
ATTEMPT_TIMEOUT_S = 1.0
# The container's state is read every few polls, to fail fast when it exited.
STATE_EVERY = 5

Check = Callable[[httpx.Response], str | None]


def answers_200(response: httpx.Response) -> str | None:
    """None when the answer is a 200, else what was wrong with it."""
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def wait_for_http(
    http: httpx.Client,
    url: str,
    *,
    what: str,
    timeout_s: float,
    clock: Clock,
    check: Check = answers_200,
    expectation: str = "HTTP 200",
    container: Container | None = None,
) -> float:
    """Poll `url` until `check` passes; the seconds it took. EnvironmentProblem on the deadline.

    When `container` is given and exits, the wait ends at once with its last log lines.
    """
    started = clock.now()
    deadline = started + timeout_s
    last = "no answer yet"
    polls = 0
    while True:
        try:
            response = http.get(
                url, timeout=min(ATTEMPT_TIMEOUT_S, max(deadline - clock.now(), 0.05))
            )
            problem = check(response)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if problem is None:
            waited = clock.now() - started
            log.info("%s answered at %s after %.2f s", what, url, waited)
            return waited
        last = problem
        polls += 1
        if container is not None and polls % STATE_EVERY == 1:
            _fail_if_exited(container, what, url)
        if clock.now() >= deadline:
            name = f"; see `docker logs {container.name}`" if container is not None else ""
            raise EnvironmentProblem(
                f"{what} not healthy after {timeout_s:.0f} s: waited for {expectation} from {url}; "
                f"last: {last}{name}"
            )
        clock.sleep(min(POLL_INTERVAL_S, max(deadline - clock.now(), 0.0)))


def _fail_if_exited(container: Container, what: str, url: str) -> None:
    try:
        container.reload()
    except NotFound as exc:
        raise EnvironmentProblem(f"{what}: container {container.name} is gone") from exc
    if container.status in ("exited", "dead"):
        code = container.attrs.get("State", {}).get("ExitCode")
        raise EnvironmentProblem(
            f"{what} exited (code {code}) before answering {url}: {logs_tail(container)}; "
            f"see `docker logs {container.name}`"
        )
