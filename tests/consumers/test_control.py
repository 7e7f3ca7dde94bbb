"""Consumer-side faults reach your consumer: per call for a command, by your restart command for a URL."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.backends.base import ConsumerSettings
from runner.consumers.control import OwnConsumer
from runner.consumers.target import ConsumerKind, ConsumerTarget
from runner.errors import EnvironmentProblem
from runner.pins import default_pin_path, load_pin
from runner.probes.loadgen import LoadGenerator

PIN = load_pin(default_pin_path("v0.4.0"))
OTHER_PIN = load_pin(default_pin_path("v0.3.2"))
# A command that answers a Draft naming the variables it was run with.
ECHO = (
    f"{sys.executable} -c \"import os, json; print(json.dumps({{'draft': 'ok', 'enrichment': "
    "{'applied': False, 'fallback_reason': os.environ.get('ASSISTSUPPORT_ENABLE_MEMORY_KERNEL', 'unset'), "
    "'message': os.environ.get('ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS', 'unset'), "
    "'preflight': {'base_url': os.environ.get('ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL')}}}))\""
)


def test_a_command_consumer_gets_the_variables_on_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS", "99"
    )  # the runner's own: not passed
    settings = ConsumerSettings(pin=PIN, env={"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "true"})
    own = OwnConsumer(ConsumerTarget(ConsumerKind.COMMAND, ECHO), settings)
    own.attach("127.0.0.1:4010")
    probe = own.probe(10.0)
    first = probe.draft()
    assert first.ok and first.fallback_reason == "true" and first.message == "unset"
    assert first.base_url == "http://127.0.0.1:4010"
    own.set_env({"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "0"})
    assert probe.draft().fallback_reason == "0"
    own.set_env({"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": None})
    assert probe.draft().fallback_reason == "unset"


class DraftServer(HTTPServer):
    """Answers every Draft with 200, as a consumer that is up."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.dumps({"draft": "ok", "enrichment": {"applied": True}}).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def draft_url() -> Iterator[str]:
    server = DraftServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/draft"
    server.shutdown()
    server.server_close()


def restart_script(tmp_path: Path, exit_code: int = 0) -> tuple[str, Path]:
    """A restart command that records the variables it got, one JSON line per run."""
    log = tmp_path / "restarts.jsonl"
    script = tmp_path / "restart.py"
    script.write_text(
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({k: v for k, v in os.environ.items()"
        " if k.startswith(('ASSISTSUPPORT_', 'MKDRILL_PIN_FILE'))}) + '\\n')\n"
        f"print('restarting my consumer'); sys.exit({exit_code})\n"
    )
    return f"{sys.executable} {script}", log


def test_a_url_consumer_is_restarted_with_the_flag_and_the_pin(
    tmp_path: Path, draft_url: str
) -> None:
    command, log = restart_script(tmp_path)
    target = ConsumerTarget(ConsumerKind.URL, draft_url, command)
    settings = ConsumerSettings(pin=PIN, env={"ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "2500"})
    own = OwnConsumer(target, settings)
    own.attach("127.0.0.1:4010")
    own.set_env({"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "0"})
    own.restart(ConsumerSettings(pin=OTHER_PIN, env=settings.env))
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 3  # attach, the flag, the pin
    assert all(r["ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL"] == "http://127.0.0.1:4010" for r in runs)
    assert all(r["ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"] == "2500" for r in runs)
    assert "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL" not in runs[0]
    assert runs[1]["ASSISTSUPPORT_ENABLE_MEMORY_KERNEL"] == "0"
    assert runs[0]["MKDRILL_PIN_FILE"] == str(PIN.source)
    assert runs[2]["MKDRILL_PIN_FILE"] == str(OTHER_PIN.source)


def test_a_failing_restart_command_is_an_environment_error_with_its_output(
    tmp_path: Path, draft_url: str
) -> None:
    command, _ = restart_script(tmp_path, exit_code=4)
    own = OwnConsumer(
        ConsumerTarget(ConsumerKind.URL, draft_url, command), ConsumerSettings(pin=PIN)
    )
    with pytest.raises(EnvironmentProblem, match=r"exited 4: restarting my consumer"):
        own.attach("127.0.0.1:4010")


def test_the_load_on_a_command_consumer_runs_with_the_fault_windows_variables() -> None:
    settings = ConsumerSettings(pin=PIN)
    own = OwnConsumer(ConsumerTarget(ConsumerKind.COMMAND, ECHO), settings)
    own.attach("127.0.0.1:4010")
    own.set_env({"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "0"})  # the fault, on before the window
    load = LoadGenerator(own.load_target(), 1, 10.0)
    load.wait_ready(30.0)
    load.go()
    time.sleep(1.0)
    drafts = load.stop(30.0)
    assert drafts and {d.outcome.fallback_reason for d in drafts} == {"0"}
    assert {d.outcome.base_url for d in drafts} == {"http://127.0.0.1:4010"}
