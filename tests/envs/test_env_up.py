"""`env up` prints what a person needs and refuses to replace a running environment; `env status` shows it."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.backends.admin_token import admin_headers
from runner.backends.processes import pid_alive
from tests.consumers.helpers import free_port
from tests.envs.concurrent import mkdrill


def _urls(screen: str) -> dict[str, str]:
    found = {
        "draft": re.search(r"Draft +POST (http://\S+/v1/draft)", screen),
        "preflight": re.search(r"preflight +GET +(http://\S+/v1/preflight)", screen),
        "memorykernel": re.search(
            r"MemoryKernel +(http://\S+) +through the Toxiproxy proxy", screen
        ),
        "proxy": re.search(r"through the Toxiproxy proxy (\S+) ", screen),
        "toxiproxy": re.search(r"Toxiproxy API +(http://\S+)", screen),
    }
    missing = [name for name, match in found.items() if match is None]
    assert not missing, f"{missing} not on the screen:\n{screen}"
    return {name: match.group(1) for name, match in found.items() if match is not None}


def _pids(state: Path) -> list[int]:
    return [int(p["pid"]) for p in json.loads((state / "env.json").read_text())["processes"]]


@pytest.fixture
def env_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    mkdrill(tmp_path, "env", "down")


@pytest.mark.slow
def test_env_up_shows_usable_urls_refuses_to_replace_and_status_repeats_them(
    env_dir: Path,
) -> None:
    up = mkdrill(env_dir, "env", "up")
    assert up.returncode == 0, up.stderr
    assert "no environment was up" not in up.stdout + up.stderr
    assert up.stdout.startswith(
        "environment up at v0.4.0 (local backend, toxiproxy embedded, consumer timeout 2500 ms, the pin's):"
    )
    urls = _urls(up.stdout)
    state = env_dir / "reports" / ".state"

    with httpx.Client(timeout=10.0) as http:
        draft = http.post(urls["draft"], json={"ticket": "printer offline"})
        assert draft.status_code == 200 and draft.json()["enrichment"]["applied"] is True
        assert http.get(urls["preflight"]).json()["status"] == "ready"
        assert http.get(f"{urls['memorykernel']}/v1/health").status_code == 200
        proxy = http.get(f"{urls['toxiproxy']}/proxies").json()[urls["proxy"]]
        assert f"http://{proxy['listen']}" == urls["memorykernel"]
        admin = urls["draft"].removesuffix("/v1/draft") + "/v1/admin/env"
        assert http.post(admin, json={}).status_code == 401  # no token, no repointing
        saved = state / "env-urls.json"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        token = json.loads(saved.read_text())["admin_token"]
        assert token and token not in up.stdout
        assert http.post(admin, json={}, headers=admin_headers(token)).status_code == 200

    status = mkdrill(env_dir, "env", "status")
    assert status.returncode == 0
    assert _urls(status.stdout) == urls

    first = _pids(state)
    again = mkdrill(env_dir, "env", "up")
    assert again.returncode == 3
    assert again.stdout == "" and len(again.stderr.splitlines()) == 1, again.stderr
    assert "already up" in again.stderr and "env up --replace" in again.stderr
    assert _pids(state) == first and all(pid_alive(pid) for pid in first)
    assert httpx.post(urls["draft"], json={"ticket": "x"}, timeout=10.0).status_code == 200

    replaced = mkdrill(env_dir, "env", "up", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.startswith("replaced the environment that was up: process ")
    assert not any(pid_alive(pid) for pid in first)
    new_urls = _urls(replaced.stdout)
    assert httpx.post(new_urls["draft"], json={"ticket": "x"}, timeout=10.0).status_code == 200

    down = mkdrill(env_dir, "env", "down")
    assert down.returncode == 0 and down.stdout.startswith("stopped: ")
    assert not (state / "env-urls.json").exists()
    after = mkdrill(env_dir, "env", "status")
    assert "Draft" not in after.stdout


def test_env_up_puts_the_proxy_where_asked_and_a_taken_port_is_one_line_exit_3(
    env_dir: Path,
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        refused = mkdrill(env_dir, "env", "up", "--proxy-listen", f"127.0.0.1:{taken}")
    assert refused.returncode == 3 and refused.stdout == "", refused.stdout + refused.stderr
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"--proxy-listen 127.0.0.1:{taken}: port already in use by pid {os.getpid()}" in (
        refused.stderr
    )
    assert not (env_dir / "reports" / ".state" / "env.json").exists()  # nothing started

    port = free_port()
    up = mkdrill(env_dir, "env", "up", "--proxy-listen", f"127.0.0.1:{port}")
    assert up.returncode == 0, up.stderr
    urls = _urls(up.stdout)
    assert urls["memorykernel"] == f"http://127.0.0.1:{port}"
    health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10.0)
    assert health.status_code == 200  # MemoryKernel answers through the proxy at that address
