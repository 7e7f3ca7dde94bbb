"""Connecting to the Docker engine, and turning docker SDK errors into one-line mkdrill errors."""

from __future__ import annotations

import logging
import os

import docker
from docker.errors import DockerException

from runner.errors import EnvironmentProblem

log = logging.getLogger(__name__)

LABEL_RUN_ID = "io.mkdrill.run-id"
LABEL_ROLE = "io.mkdrill.role"
LABEL_RELEASE = "io.mkdrill.release"
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
# Seconds the SDK waits for one engine call; image builds and imports pass their own.
API_TIMEOUT_S = 60


def docker_url(base_url: str | None = None) -> str:
    """The engine address in use: the argument, else DOCKER_HOST, else the default socket."""
    return base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


def connect(base_url: str | None = None, timeout_s: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A client whose engine answered a ping; EnvironmentProblem (exit 3) in one line otherwise."""
    url = docker_url(base_url)
    try:
        if base_url is None:
            client = docker.from_env(timeout=timeout_s)
        else:
            client = docker.DockerClient(base_url=base_url, timeout=timeout_s)
        client.ping()
    except DockerException as exc:
        raise EnvironmentProblem(
            f"Docker engine not reachable at {url}: {error_reason(exc)}; "
            "start Docker or use --backend local"
        ) from exc
    except OSError as exc:
        raise EnvironmentProblem(
            f"Docker engine not reachable at {url}: {error_reason(exc)}; "
            "start Docker or use --backend local"
        ) from exc
    log.debug("connected to the Docker engine at %s", url)
    return client


def error_reason(exc: BaseException) -> str:
    """The innermost cause of a docker/requests error, on one line (their own texts nest reprs)."""
    innermost: BaseException = exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        innermost = current
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                current = arg
                break
        else:
            current = current.__cause__ or current.__context__
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror
    explanation = getattr(innermost, "explanation", None)
    text = str(explanation or innermost) or type(innermost).__name__
    return " ".join(text.split())
