"""`mkdrill serve memorykernel` as a real process: ready line, answers, signals, exit codes."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

READY = re.compile(r"^memorykernel (v\S+) \((service\.v\d)\) listening on (http://\S+)$")
START_DEADLINE_S = 20.0
EXIT_DEADLINE_S = 10.0


def mkdrill(*args: str) -> list[str]:
    # `python -m runner` is the `mkdrill` console script's entry point, without relying on PATH.
    return [sys.executable, "-m", "runner", *args]


def read_line(stream: int, deadline_s: float) -> str:
    """One line from a pipe within the deadline (select-based, never a blocking read)."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    data = b""
    end = time.monotonic() + deadline_s
    try:
        while b"\n" not in data:
            remaining = end - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"no line within {deadline_s} s (got {data!r})")
            chunk = os.read(stream, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        selector.close()
    return data.decode()


@pytest.fixture
def served(mk_release: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A `serve memorykernel` process on port 0 and its ready line; killed if a test leaves it."""
    process = subprocess.Popen(
        mkdrill(
            "serve",
            "memorykernel",
            "--release",
            mk_release,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            str(tmp_path / "mk.sqlite3"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = read_line(process.stdout.fileno(), START_DEADLINE_S)
        yield process, line
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=EXIT_DEADLINE_S)


def test_ready_line_then_answers(
    served: tuple[subprocess.Popen[bytes], str], mk_release: str
) -> None:
    _, line = served
    match = READY.match(line.rstrip("\n"))
    assert match, line
    tag, contract, url = match.groups()
    assert tag == mk_release
    assert contract == {"v0.3.2": "service.v2", "v0.4.0": "service.v3"}[mk_release]
    assert not url.endswith(":0")
    with httpx.Client(base_url=url, timeout=5.0) as client:
        health = client.get("/v1/health").json()
    assert health["service_contract_version"] == contract


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(
    served: tuple[subprocess.Popen[bytes], str], signum: signal.Signals
) -> None:
    process, line = served
    url = READY.match(line.rstrip("\n")).group(3)  # type: ignore[union-attr]
    with httpx.Client(base_url=url, timeout=5.0) as client:
        client.get("/v1/health")  # an idle keep-alive connection must not hold up the exit
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=EXIT_DEADLINE_S)
    assert process.returncode == 0, stderr
    assert stdout == b"" and stderr == b""


def test_unknown_release_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        mkdrill(
            "serve",
            "memorykernel",
            "--release",
            "v9.9.9",
            "--port",
            "0",
            "--db",
            str(tmp_path / "mk.sqlite3"),
        ),
        capture_output=True,
        timeout=START_DEADLINE_S,
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode() == (
        "mkdrill: --release: unknown MemoryKernel release 'v9.9.9'; use one of v0.3.2, v0.4.0\n"
    )


def test_port_in_use_exits_3_naming_the_address(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            mkdrill(
                "serve",
                "memorykernel",
                "--release",
                "v0.4.0",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--db",
                str(tmp_path / "mk.sqlite3"),
            ),
            capture_output=True,
            timeout=START_DEADLINE_S,
        )
    assert result.returncode == 3
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert f"127.0.0.1:{port}" in lines[0] and "already in use" in lines[0]
