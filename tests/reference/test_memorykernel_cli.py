"""`mkdrill serve memorykernel` as a real process: the real command line, silent start, signals, exit codes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

START_DEADLINE_S = 20.0
EXIT_DEADLINE_S = 10.0


ENTRIES = {
    # `python -m runner` is the `mkdrill` console script's entry point, without relying on PATH.
    "mkdrill serve memorykernel": [sys.executable, "-m", "runner", "serve", "memorykernel"],
    # what the local backend starts: the same command line without the CLI framework
    "python -m runner.reference.memorykernel": [
        sys.executable,
        "-m",
        "runner.reference.memorykernel",
    ],
}


@pytest.fixture(params=list(ENTRIES))
def serve_memorykernel(request: pytest.FixtureRequest) -> Callable[..., list[str]]:
    """The argv of one entry to the reference service; every test here runs on both."""
    prefix = ENTRIES[request.param]
    return lambda *args: [*prefix, *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, process: subprocess.Popen[bytes]) -> dict[str, object]:
    """Health as soon as it answers (the service prints no ready line, as the real one)."""
    deadline = time.monotonic() + START_DEADLINE_S
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                body: dict[str, object] = client.get(f"{url}/v1/health").json()
                return body
            except httpx.HTTPError:
                time.sleep(0.05)
    raise AssertionError(f"{url}/v1/health did not answer within {START_DEADLINE_S} s")


@pytest.fixture
def served(
    mk_release: str, tmp_path: Path, serve_memorykernel: Callable[..., list[str]]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A `serve memorykernel --bind --db` process and its URL, once health answers."""
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        serve_memorykernel(
            "--release",
            mk_release,
            "--bind",
            url.removeprefix("http://"),
            "--db",
            str(tmp_path / "mk.sqlite3"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_health(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=EXIT_DEADLINE_S)


def test_real_command_line_answers_and_prints_nothing(
    served: tuple[subprocess.Popen[bytes], str], mk_release: str
) -> None:
    process, url = served
    contract = {"v0.3.2": "service.v2", "v0.4.0": "service.v3"}[mk_release]
    with httpx.Client(base_url=url, timeout=5.0) as client:
        health = client.get("/v1/health").json()
    assert health["service_contract_version"] == contract
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=EXIT_DEADLINE_S)
    assert stdout == b"" and stderr == b"", "no ready line, like the real service"


def test_a_bad_database_never_stops_it_from_starting(
    tmp_path: Path, serve_memorykernel: Callable[..., list[str]]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        serve_memorykernel(
            "--release",
            "v0.4.0",
            "--bind",
            url.removeprefix("http://"),
            "--db",
            str(tmp_path),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for_health(url, process)["data"] == {"status": "ok"}
        answer = httpx.post(f"{url}/v1/db/schema-version", timeout=5.0)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "schema_unavailable"
    finally:
        process.kill()
        process.communicate(timeout=EXIT_DEADLINE_S)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(
    served: tuple[subprocess.Popen[bytes], str], signum: signal.Signals
) -> None:
    process, url = served
    with httpx.Client(base_url=url, timeout=5.0) as client:
        client.get("/v1/health")  # an idle keep-alive connection must not hold up the exit
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=EXIT_DEADLINE_S)
    assert process.returncode == 0, stderr
    assert stdout == b"" and stderr == b""


def test_unknown_release_exits_2_with_one_line(
    tmp_path: Path, serve_memorykernel: Callable[..., list[str]]
) -> None:
    result = subprocess.run(
        serve_memorykernel(
            "--release",
            "v9.9.9",
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


def test_port_in_use_exits_3_naming_the_address(
    tmp_path: Path, serve_memorykernel: Callable[..., list[str]]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            serve_memorykernel(
                "--release",
                "v0.4.0",
                "--bind",
                f"127.0.0.1:{port}",
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


def test_the_entry_the_runner_starts_loads_no_cli_framework() -> None:
    """Each MemoryKernel start inside a drill is part of a measured restore: no typer, no click."""
    probe = (
        "import sys, runner.reference.memorykernel.__main__ as entry, runner.backends.processes, "
        "runner.reference.memorykernel.server; "
        "print(sorted(m for m in ('typer', 'click', 'rich') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=START_DEADLINE_S
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
