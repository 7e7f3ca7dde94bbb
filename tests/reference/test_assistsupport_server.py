"""The consumer's HTTP surface: routes, bad requests, run-time env, bind errors, `mkdrill serve`."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.backends.admin_token import admin_headers
from runner.errors import DefinitionError, EnvironmentProblem
from runner.pins import Pin, default_pin_path, load_pin
from runner.probes.draft import outcome_from_response
from runner.reference.assistsupport import AssistSupportServer
from tests.reference.as_stub import StubMemoryKernel

# The module fixture is made once: every test of this file runs on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("assistsupport-server")

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(
    r"assistsupport \((shipped|patched), pin (v[0-9.]+)\) listening on (http://127\.0\.0\.1:(\d+))"
)


@pytest.fixture(scope="module")
def pin() -> Pin:
    return load_pin(default_pin_path("v0.4.0"))


TOKEN = "environment-token-1"
ADMIN = admin_headers(TOKEN)


@pytest.fixture
def stub() -> Iterator[StubMemoryKernel]:
    with StubMemoryKernel() as server:
        yield server


@pytest.fixture
def running(pin: Pin, stub: StubMemoryKernel) -> Iterator[tuple[AssistSupportServer, httpx.Client]]:
    server = AssistSupportServer(
        pin, env={"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": stub.url}, admin_token=TOKEN
    )
    with server, httpx.Client(base_url=server.url, timeout=10.0, headers=ADMIN) as client:
        yield server, client


def test_health_pin_and_preflight_routes(running: tuple[AssistSupportServer, httpx.Client]) -> None:
    _, client = running
    assert client.get("/v1/health").json() == {"status": "ok", "defect": "none"}
    assert client.get("/v1/pin").json()["release_tag"] == "v0.4.0"
    preflight = client.get("/v1/preflight").json()
    assert preflight["status"] == "ready" and preflight["ask_body"] == "patched"
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/draft").status_code == 405
    assert client.post("/v1/health").status_code == 405


def test_draft_answer_shape(running: tuple[AssistSupportServer, httpx.Client]) -> None:
    _, client = running
    body = client.post("/v1/draft", json={"ticket": "VPN drops", "notes": "Checked logs"}).json()
    assert set(body) == {"draft", "enrichment", "outcome", "elapsed_ms", "ask_body"}
    assert isinstance(body["elapsed_ms"], float)
    assert "## Diagnostic Notes\nChecked logs\n\nMemoryKernel Policy Context\n" in body["draft"]
    assert body["outcome"]["enrichmentApplied"] is True


def test_blank_ticket_falls_back_with_adapter_error_and_the_draft_goes_on(
    running: tuple[AssistSupportServer, httpx.Client],
) -> None:
    # The command returns Err ("user_input cannot be empty"); the hook catches it, falls back with
    # `adapter-error` (useMemoryKernelEnrichment.ts) and the Draft is generated as usual.
    _, client = running
    response = client.post("/v1/draft", json={"ticket": " \n\t ", "notes": "Checked logs"})
    assert response.status_code == 200
    body = response.json()
    assert body["draft"].strip() and "## Diagnostic Notes\nChecked logs" in body["draft"]
    assert body["enrichment"]["applied"] is False
    assert body["enrichment"]["fallback_reason"] == "adapter-error"
    assert body["enrichment"]["machine_error_code"] is None
    assert body["outcome"] == {
        "diagnosticNotes": "Checked logs",
        "enrichmentApplied": False,
        "status": "fallback",
        "message": "MemoryKernel enrichment unavailable: user_input cannot be empty | "
        "MemoryKernel adapter encountered an error. Check consumer logs and retry.",
        "fallbackReason": "adapter-error",
        "machineErrorCode": None,
    }
    outcome = outcome_from_response(response.status_code, response.content, 1.0)
    assert outcome.ok and outcome.fallback_reason == "adapter-error"


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b"[]",
        b'{"text": "x"}',
        b'{"ticket": 5}',
        b'{"ticket": "x", "notes": 3}',
        b'{"ticket": "\\ud800"}',
    ],
)
def test_bad_draft_requests_are_400(
    running: tuple[AssistSupportServer, httpx.Client], content: bytes
) -> None:
    _, client = running
    response = client.post(
        "/v1/draft", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_admin_env_sets_and_unsets(running: tuple[AssistSupportServer, httpx.Client]) -> None:
    _, client = running
    state = client.post(
        "/v1/admin/env",
        json={
            "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "50",
            "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": "off",
        },
    ).json()
    assert state["settings"]["timeout_ms"] == 100
    assert state["settings"]["enabled"] is False
    assert state["env"]["ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"] == "50"
    assert client.post("/v1/draft", json={"ticket": "x"}).json()["enrichment"][
        "fallback_reason"
    ] == ("feature-disabled")
    state = client.post(
        "/v1/admin/env",
        json={
            "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": None,
            "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": None,
        },
    ).json()
    assert state["settings"]["timeout_ms"] == 2500 and state["settings"]["enabled"] is True
    assert client.get("/v1/admin/env").json() == state


@pytest.mark.parametrize(
    "content",
    [
        b'{"PATH": "/tmp"}',
        b'{"assistsupport_enable_memory_kernel": "1"}',
        b'{"ASSISTSUPPORT_X": 1}',
        b"[]",
        b"{",
    ],
)
def test_admin_env_rejects_other_names_and_values(
    running: tuple[AssistSupportServer, httpx.Client], content: bytes
) -> None:
    _, client = running
    response = client.post("/v1/admin/env", content=content)
    assert response.status_code == 400
    assert client.get("/v1/admin/env").json()["settings"]["enabled"] is True


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}], ids=str
)
def test_admin_env_needs_the_environments_token(
    running: tuple[AssistSupportServer, httpx.Client], headers: dict[str, str]
) -> None:
    server, _ = running
    changes = {"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": "http://attacker.invalid:1"}
    with httpx.Client(base_url=server.url, timeout=10.0, headers=headers) as stranger:
        refused = stranger.post("/v1/admin/env", json=changes)
        assert refused.status_code == 401
        assert "Authorization: Bearer <token>" in refused.json()["error"]
        assert stranger.get("/v1/admin/env").status_code == 401
        assert stranger.post("/v1/draft", json={"ticket": "x"}).json()["enrichment"]["applied"]


def test_admin_env_is_off_without_a_token(pin: Pin, stub: StubMemoryKernel) -> None:
    with AssistSupportServer(
        pin, env={"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": stub.url}, admin_token=""
    ) as server:
        refused = httpx.post(f"{server.url}/v1/admin/env", json={}, headers=admin_headers(""))
        assert refused.status_code == 403
        assert "MKDRILL_ADMIN_TOKEN" in refused.json()["error"]


def test_given_env_replaces_os_environ(
    pin: Pin, stub: StubMemoryKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTSUPPORT_ENABLE_MEMORY_KERNEL", "0")
    monkeypatch.setenv("ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL", stub.url)
    with AssistSupportServer(
        pin, env={"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": stub.url}
    ) as hermetic:
        assert httpx.get(f"{hermetic.url}/v1/preflight").json()["status"] == "ready"
    with AssistSupportServer(pin) as from_process:
        assert httpx.get(f"{from_process.url}/v1/preflight").json()["status"] == "disabled"
        monkeypatch.setenv("ASSISTSUPPORT_ENABLE_MEMORY_KERNEL", "yes")  # read fresh on every call
        assert httpx.get(f"{from_process.url}/v1/preflight").json()["status"] == "ready"


def test_stop_does_not_wait_for_idle_keep_alive_clients(pin: Pin, stub: StubMemoryKernel) -> None:
    server = AssistSupportServer(pin, env={"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": stub.url})
    server.start()
    with httpx.Client(base_url=server.url) as client:
        client.get("/v1/health")  # the connection stays open in the pool
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
    server.stop()  # idempotent


def test_port_in_use_and_bad_modes(pin: Pin) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match=f"127.0.0.1:{taken}: port already in use"):
            AssistSupportServer(pin, port=taken).start()
    with pytest.raises(
        DefinitionError, match=re.escape("ask_body: must be one of shipped|patched")
    ):
        AssistSupportServer(pin, ask_body="fixed")
    with pytest.raises(
        DefinitionError, match=re.escape("defect: must be one of none|draft-blocks|")
    ):
        AssistSupportServer(pin, defect="eager")


# ---- `mkdrill serve assistsupport` in a real process --------------------------------------------


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "assistsupport", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _read_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, f"no ready line within {timeout_s} s"
    return proc.stdout.readline()


def test_serve_prints_one_ready_line_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    proc = _serve("--pin", str(default_pin_path("v0.3.2")), "--port", "0", "--ask-body", "shipped")
    try:
        match = READY.fullmatch(_read_line(proc, 20.0).rstrip("\n"))
        assert match is not None
        assert match.group(1) == "shipped" and match.group(2) == "v0.3.2"
        response = httpx.get(f"{match.group(3)}/v1/preflight", timeout=10.0)
        assert response.json()["ask_body"] == "shipped"
        assert response.json()["expected_service_contract_version"] == "service.v2"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert stdout == ""


def test_serve_exits_0_on_sigint() -> None:
    proc = _serve("--pin", str(default_pin_path("v0.4.0")), "--port", "0")
    try:
        assert READY.fullmatch(_read_line(proc, 20.0).rstrip("\n"))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_serve_with_a_bad_pin_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "pin.json"
    bad.write_text(
        json.dumps({**json.loads(default_pin_path("v0.4.0").read_text()), "commit_sha": "XYZ"})
    )
    proc = _serve("--pin", str(bad), "--port", "0")
    stdout, stderr = proc.communicate(timeout=20.0)
    assert proc.returncode == 2
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith(f"mkdrill: {bad}: commit_sha: must be 40 lowercase hex characters")


def test_serve_on_a_taken_port_exits_3() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        proc = _serve(
            "--pin", str(default_pin_path("v0.4.0")), "--port", str(holder.getsockname()[1])
        )
        stdout, stderr = proc.communicate(timeout=20.0)
    assert proc.returncode == 3
    assert stdout == ""
    assert "port already in use" in stderr and stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "defect"),
    [
        (("--defect", "stale-preflight"), "stale-preflight"),
        (("--enrichment", "blocking"), "draft-blocks"),  # an older checkout's compose file
        (("--enrichment", "fallback"), "none"),
    ],
)
def test_serve_takes_a_consumer_defect(args: tuple[str, str], defect: str) -> None:
    proc = _serve("--pin", str(default_pin_path("v0.4.0")), "--port", "0", *args)
    try:
        line = _read_line(proc, 20.0).rstrip("\n")
        url = line.rsplit(" ", 1)[1]
        assert (f", defect {defect})" in line) is (defect != "none"), line
        assert httpx.get(f"{url}/v1/health", timeout=10.0).json()["defect"] == defect
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_with_an_unknown_defect_exits_2_with_one_line() -> None:
    proc = _serve("--pin", str(default_pin_path("v0.4.0")), "--port", "0", "--defect", "eager")
    stdout, stderr = proc.communicate(timeout=20.0)
    assert proc.returncode == 2 and stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith("mkdrill: --defect: unknown consumer defect 'eager'; use one of none,")
