"""Where the embedded server differs from Toxiproxy on purpose, each checked on both sides.

Known differences (also in runner/reference/toxiproxy/__init__.py):

1. A listen address with no host ("" or ":0"): Toxiproxy binds every interface (net.Listen with
   an empty host); the embedded server binds the API's own host, so a proxy made for a drill is
   never reachable from the network by accident.
2. GET /version: the embedded server says "2.12.0+mkdrill.embedded" (the release it copies, with
   semver build metadata), so a client can tell which one answers.
3. Its command line follows mkdrill's rules: a port in use exits 3 and a bad --config exits 2,
   each with one line, where toxiproxy-server logs the error and keeps running.
4. Toxic edge cases, not drilled (see the package docstring): an added toxic does not cut short
   the delay an earlier latency toxic holds; reset_peer added to a live connection resets it;
   slicer with size_variation 0 does not panic.

Each test below pins the real behaviour where running it is safe here, and the embedded one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conformance.conftest import Proxies, ServerUnderTest
from tests.conformance.netutil import TcpServer, split_listen


def test_empty_listen_host(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer, server_under_test: ServerUnderTest
) -> None:
    """Real: proxy.go listen() passes "" to net.Listen, which binds every interface ("[::]:PORT").
    Embedded: the API's host. Not run against a real server: it would open a port on every
    interface of this machine."""
    if server_under_test.kind != "embedded":
        pytest.skip("would bind a proxy on every interface of this host; see the docstring")
    name = proxies.name()
    response = api.post(
        "/proxies", json={"name": name, "listen": "", "upstream": echo_server.address}
    )
    assert response.status_code == 201
    api_host = str(api.base_url.host)
    assert split_listen(response.json()["listen"])[0] == api_host


def test_version_names_the_embedded_server(
    api: httpx.Client, server_under_test: ServerUnderTest
) -> None:
    """Real: the version it was built as (version.go, set at build). Embedded: 2.12.0 plus
    +mkdrill.embedded."""
    version = str(api.get("/version").json()["version"])
    if server_under_test.kind == "embedded":
        assert version == "2.12.0+mkdrill.embedded"
    else:
        assert "mkdrill" not in version


def _exits_within(command: list[str], seconds: float) -> subprocess.CompletedProcess[str] | None:
    """The finished process, or None if it still ran after `seconds` (then it is killed)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=10)
        return None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_api_port_in_use(server_under_test: ServerUnderTest) -> None:
    """Real: server.Listen fails, is logged ("Server finished with error"), and the process runs
    on without an API until signalled. Embedded: exit 3, one line naming the port."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = int(taken.getsockname()[1])
        done = _exits_within(server_under_test.command("127.0.0.1", port), 3.0)
    if server_under_test.kind == "embedded":
        assert done is not None and done.returncode == 3
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and str(port) in lines[0]
    else:
        assert done is None, "toxiproxy-server exited although it only logs this"


@pytest.mark.parametrize("content", ["{not json", '[{"name": "x", "listen": "127.0.0.1:0"}]'])
def test_bad_config_file(tmp_path: Path, server_under_test: ServerUnderTest, content: str) -> None:
    """Real: PopulateConfig logs the error and the server runs with no proxies. Embedded: exit 2,
    one line naming the file."""
    config = tmp_path / "bad.json"
    config.write_text(content)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = server_under_test.command("127.0.0.1", port, config)
    if server_under_test.kind == "embedded":
        done = _exits_within(command, 30.0)
        assert done is not None and done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and str(config) in lines[0]
        return
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, "toxiproxy-server exited on a bad config"
            try:
                proxies = httpx.get(f"http://127.0.0.1:{port}/proxies", timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.05)
        assert json.loads(json.dumps(proxies)) == {}
    finally:
        process.kill()
        process.wait(timeout=10)
