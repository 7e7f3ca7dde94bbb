"""The embedded Toxiproxy keeps a client's first bytes on every Python 3.11 it may run on.

CPython before 3.11.4 (Debian bookworm's 3.11.2, the offline image base) starts reading a socket
even when `pause_reading()` was called in `connection_made()`. This runs the embedded server under
each interpreter found, so it is about the embedded implementation; the behaviour itself, for any
server, is pinned in tests/conformance/test_early_bytes.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, threading, urllib.request
    from runner.reference.toxiproxy import EmbeddedToxiproxy
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
    def echo():
        while True:
            conn, _ = server.accept(); conn.sendall(conn.recv(100)); conn.close()
    threading.Thread(target=echo, daemon=True).start()
    with EmbeddedToxiproxy() as proxy:
        body = {"name": "echo", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:%d" % server.getsockname()[1]}
        request = urllib.request.Request(proxy.url + "/proxies", data=json.dumps(body).encode(), method="POST")
        host, port = json.loads(urllib.request.urlopen(request, timeout=5).read())["listen"].rsplit(":", 1)
        echoed = 0
        for i in range(20):
            client = socket.create_connection((host, int(port)), timeout=3)
            client.sendall(b"hello %d" % i)
            echoed += client.recv(100) == b"hello %d" % i
            client.close()
    print(sys.version.split()[0], echoed)
    """
)


def interpreters() -> list[str]:
    found = [sys.executable]
    debian = shutil.which("python3", path="/usr/bin")
    if debian and Path(debian).resolve() != Path(sys.executable).resolve():
        found.append(debian)
    return found


@pytest.mark.parametrize("python", interpreters())
def test_first_bytes_are_proxied(python: str) -> None:
    site = next(p for p in sys.path if p.endswith("site-packages"))
    done = subprocess.run(
        [python, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": f"{REPO}:{site}", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[1] == "20", done.stdout
