"""Proof that a database fault took effect: MemoryKernel is up and answers as the fault intends.

A fault that silently did not happen would let a drill pass on whatever the consumer saw instead
(a service that exited looks `offline`, one that ignores `--db` stays enriched). Each check here
asks MemoryKernel directly (not through the proxy) and raises an EnvironmentProblem that names
the process or container, its state, exit code and last log lines when it does not hold.
"""

from __future__ import annotations

from typing import Any

import httpx

from runner.backends.base import Environment
from runner.clock import Clock
from runner.errors import EnvironmentProblem
from runner.tls import shared_ssl_context

UP_DEADLINE_S = 15.0
POLL_S = 0.02
ASK_WITH_AS_OF = {
    "text": "mkdrill fault check",
    "actor": "support_agent",
    "action": "resolve",
    "resource": "support_ticket",
    "as_of": None,
}


def _problem(env: Environment, what: str) -> EnvironmentProblem:
    return EnvironmentProblem(f"{what}; {env.describe_memorykernel()}")


def _wait_up(env: Environment, client: httpx.Client, base_url: str, clock: Clock) -> None:
    deadline = clock.now() + UP_DEADLINE_S
    last = "no answer"
    while True:
        try:
            response = client.get(f"{base_url}/v1/health")
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        if clock.now() >= deadline:
            raise _problem(
                env,
                f"MemoryKernel at {base_url} did not answer /v1/health within "
                f"{UP_DEADLINE_S:.0f} s after the database fault (last: {last})",
            )
        clock.sleep(POLL_S)


def _error_code(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
        code = body["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _post(env: Environment, client: httpx.Client, url: str, body: Any = None) -> httpx.Response:
    try:
        return client.post(url, json=body) if body is not None else client.post(url)
    except httpx.HTTPError as exc:
        raise _problem(env, f"POST {url} failed during the fault check: {exc}") from exc


def prove_schema_unavailable(env: Environment, base_url: str, clock: Clock) -> None:
    """MemoryKernel restarted on a broken database: health answers, schema-version is 503 schema_unavailable."""
    with httpx.Client(timeout=2.0, verify=shared_ssl_context()) as client:
        _wait_up(env, client, base_url, clock)
        response = _post(env, client, f"{base_url}/v1/db/schema-version")
    code = _error_code(response)
    if response.status_code != 503 or code != "schema_unavailable":
        raise _problem(
            env,
            f"the database fault did not take effect: schema-version answered HTTP "
            f"{response.status_code} ({code or 'no error code'}), not 503 schema_unavailable; "
            "does this MemoryKernel ignore --db?",
        )


def prove_future_schema(env: Environment, base_url: str, clock: Clock, version: int) -> None:
    """A future schema_migrations row: schema-version reports it, and ask answers 503 schema_unavailable."""
    with httpx.Client(timeout=6.0, verify=shared_ssl_context()) as client:
        _wait_up(env, client, base_url, clock)
        status = _post(env, client, f"{base_url}/v1/db/schema-version")
        current = None
        if status.status_code == 200:
            try:
                current = status.json()["data"]["current_version"]
            except (ValueError, KeyError, TypeError):
                current = None
        if current != version:
            raise _problem(
                env,
                f"the future schema row did not take effect: schema-version answered HTTP "
                f"{status.status_code} with current_version {current!r}, not {version}; "
                "does this MemoryKernel use the database mkdrill gave it with --db?",
            )
        ask = _post(env, client, f"{base_url}/v1/query/ask", ASK_WITH_AS_OF)
    code = _error_code(ask)
    if ask.status_code != 503 or code != "schema_unavailable":
        raise _problem(
            env,
            f"the future schema row did not take effect: ask answered HTTP {ask.status_code} "
            f"({code or 'no error code'}), not 503 schema_unavailable",
        )
