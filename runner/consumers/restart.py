"""Run your `--consumer-restart-command` with AssistSupport's variables and the pin, then wait for Drafts."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from runner.consumers.target import PIN_VAR
from runner.errors import EnvironmentProblem
from runner.tls import shared_ssl_context

RESTART_TIMEOUT_S = 300.0
ANSWER_DEADLINE_S = 60.0
ASSISTSUPPORT_PREFIX = "ASSISTSUPPORT_"


def consumer_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with AssistSupport's variables replaced by `variables` only."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(ASSISTSUPPORT_PREFIX)}
    return {**base, **variables}


def run_restart_command(
    command: str, variables: Mapping[str, str], pin: Path | None, draft_url: str | None
) -> float:
    """Run the command (it restarts your consumer and returns), then wait until Drafts answer again.

    Returns the seconds it took. Its output goes to a file, not a pipe, so a consumer it leaves
    running in the background never holds mkdrill up.
    """
    started = time.monotonic()
    env = consumer_environment(variables)
    if pin is not None:
        env[PIN_VAR] = str(pin)
    with tempfile.TemporaryFile() as output:
        try:
            done = subprocess.run(
                shlex.split(command), env=env, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, timeout=RESTART_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnvironmentProblem(
                f"--consumer-restart-command {command!r} did not run: {type(exc).__name__}: {exc}"
            ) from exc
        if done.returncode != 0:
            output.seek(0)
            tail = " ".join(output.read()[-400:].decode("utf-8", "replace").split())
            raise EnvironmentProblem(
                f"--consumer-restart-command {command!r} exited {done.returncode}: {tail or 'no output'}"
            )
    if draft_url is not None:
        wait_for_drafts(draft_url, ANSWER_DEADLINE_S)
    return time.monotonic() - started


def wait_for_drafts(draft_url: str, deadline_s: float) -> None:
    """Poll the Draft URL until it answers 200 (whatever its enrichment), or fail naming the wait."""
    end = time.monotonic() + deadline_s
    last = "no answer"
    body = json.dumps({"ticket": "mkdrill: is the consumer back?"}).encode()
    with httpx.Client(timeout=10.0, verify=shared_ssl_context()) as client:
        while time.monotonic() < end:
            with contextlib.suppress(httpx.HTTPError):
                response = client.post(
                    draft_url, content=body, headers={"content-type": "application/json"}
                )
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            time.sleep(0.1)
    raise EnvironmentProblem(
        f"your consumer at {draft_url} did not answer a Draft within {deadline_s:.0f} s after "
        f"--consumer-restart-command ({last})"
    )
