"""Connecting to the Docker engine, and turning docker SDK errors into one-line mkdrill errors."""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse

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
    reason = _unreachable_reason(url)
    if reason is None:
        client: docker.DockerClient | None = None
        try:
            if base_url is None:
                client = docker.from_env(timeout=timeout_s)
            else:
                client = docker.DockerClient(base_url=base_url, timeout=timeout_s)
            client.ping()
        except (DockerException, OSError) as exc:
            if client is not None:
                client.close()
            reason = error_reason(exc)
        else:
            log.debug("connected to the Docker engine at %s", url)
            return client
    raise EnvironmentProblem(
        f"Docker engine not reachable at {url}: {reason}; start Docker or use --backend local"
    )


def _unreachable_reason(url: str) -> str | None:
    """Why a unix or tcp engine address takes no connection, or None when it does (or is other).

    Checked with a socket of our own: the SDK leaves its socket unclosed when the connect fails.
    """
    parts = urllib.parse.urlsplit(url)
    try:
        if parts.scheme in ("unix", "http+unix"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(5.0)
                probe.connect(parts.path)
        elif parts.scheme in ("tcp", "http", "https") and parts.hostname:
            default_port = 2376 if parts.scheme == "https" else 2375
            with socket.create_connection(
                (parts.hostname, parts.port or default_port), timeout=5.0
            ):
                pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def error_reason(exc: BaseException) -> str:
    """The engine's explanation of an API error, else the innermost cause, on one line.

    The SDK's own texts nest reprs of the requests and urllib3 errors under them.
    """
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return " ".join(str(explanation).split())
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
