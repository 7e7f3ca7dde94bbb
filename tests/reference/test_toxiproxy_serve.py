"""`mkdrill serve toxiproxy` as a real process: its ready line and mkdrill's exit codes.

These are the embedded server's own command-line conventions (a ready line; bad input exits 2,
a port in use exits 3, each in one line), where Toxiproxy logs and keeps running; the command
line both share is judged in tests/conformance/test_serve_cli.py.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.netutil import TcpServer, connect, echo, round_trip

READY_PREFIX = "toxiproxy (embedded) listening on http://127.0.0.1:"


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", "serve", "toxiproxy", *args]


def ready_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """The first line the server prints, waiting at most `timeout` seconds for it."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline().strip()


@pytest.fixture
def echo_server() -> Iterator[TcpServer]:
    server = TcpServer(echo)
    yield server
    server.close()


@pytest.fixture
def served(tmp_path: Path, echo_server: TcpServer) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The server started with a config of one proxy on --port 0; yields (process, ready line)."""
    config = tmp_path / "proxies.json"
    proxy = {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo_server.address}
    config.write_text(json.dumps([proxy]))
    process = subprocess.Popen(
        serve_command("--port", "0", "--config", str(config)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, ready_line(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_serve_prints_ready_line_serves_config_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, ready = served
    assert ready.startswith(READY_PREFIX)
    url = ready.removeprefix("toxiproxy (embedded) listening on ")
    with httpx.Client(base_url=url, timeout=5) as api:
        assert api.get("/version").status_code == 200
        listen = api.get("/proxies/echo").json()["listen"]
    with connect(listen) as client:
        assert round_trip(client) < 0.5
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_api_port_in_use_exits_3_with_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            serve_command("--port", str(port)), capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(port) in lines[0]


@pytest.mark.parametrize("content", ["{not json", '[{"name": "x", "listen": "127.0.0.1:0"}]'])
def test_bad_config_exits_2_naming_the_file(tmp_path: Path, content: str) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content)
    result = subprocess.run(
        serve_command("--port", "0", "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(config) in lines[0]


FREEZE_PROBE = """
import gc, sys
freeze = gc.freeze
def announced_freeze():
    freeze()
    print("frozen", gc.get_freeze_count() > 0, flush=True)
gc.freeze = announced_freeze
sys.argv = ["mkdrill", "serve", "toxiproxy", "--port", "0"]
import runpy
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


def test_serve_puts_what_start_up_made_out_of_the_collectors_sight_before_it_is_ready() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", FREEZE_PROBE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = ready_line(process)
        assert process.stdout is not None
        second = process.stdout.readline().strip() if first.startswith("frozen") else first
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert first == "frozen True"
    assert second.startswith(READY_PREFIX)
