"""Running the Compose tool on compose/docker-compose.yml: `docker-compose` (v1) or `docker compose` (v2)."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.errors import EnvironmentProblem

log = logging.getLogger(__name__)


def shipped_compose_dir() -> Path:
    """compose/ of the source checkout, else the copy inside the installed package."""
    package = Path(__file__).resolve().parent.parent
    checkout = package.parent / "compose"
    return checkout if (checkout / "docker-compose.yml").is_file() else package / "data" / "compose"


COMPOSE_FILE = shipped_compose_dir() / "docker-compose.yml"
COMPOSE_TIMEOUT_S = 120


def compose_command() -> list[str]:
    """The Compose tool: MKDRILL_COMPOSE_COMMAND, else docker-compose, else the docker plugin."""
    configured = os.environ.get("MKDRILL_COMPOSE_COMMAND", "").strip()
    if configured:
        return shlex.split(configured)
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker_cli = shutil.which("docker")
    if docker_cli:
        probe = subprocess.run(
            [docker_cli, "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return [docker_cli, "compose"]
    raise EnvironmentProblem(
        "no Compose tool found (docker-compose or the docker compose plugin); install one "
        "(apt-get install docker-compose) or set MKDRILL_COMPOSE_COMMAND"
    )


def compose_create(
    project: str,
    variables: Mapping[str, str],
    services: Sequence[str] = (),
    *,
    compose_file: Path = COMPOSE_FILE,
    docker_url: str | None = None,
) -> None:
    """`up --no-start`: create the network, volume and containers of `project`, start nothing."""
    if not compose_file.is_file():
        raise EnvironmentProblem(
            f"{compose_file}: compose file not found; reinstall mkdrill (the package ships it "
            "in runner/data/compose)"
        )
    command = [
        *compose_command(), "--file", str(compose_file), "--project-name", project,
        "up", "--no-start", "--no-build", *services,
    ]  # fmt: skip
    env = {**os.environ, **variables}
    if docker_url:
        env["DOCKER_HOST"] = docker_url
    log.info("%s", " ".join(command))
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False,
            stdin=subprocess.DEVNULL, timeout=COMPOSE_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentProblem(
            f"`{' '.join(command[:2])} up --no-start` for {project} did not finish within "
            f"{COMPOSE_TIMEOUT_S} s"
        ) from exc
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise EnvironmentProblem(
            f"`{command[0]} up --no-start` for {project} failed (exit {result.returncode}): "
            f"{lines[-1] if lines else 'no output'}"
        )
