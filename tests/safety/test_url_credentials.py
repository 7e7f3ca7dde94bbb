"""`--toxiproxy http://user:password@host` works, and the password reaches no artifact of the run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PASSWORD = "s3cret-pw-71"


@pytest.fixture
def toxiproxy_port() -> Iterator[int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "toxiproxy", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "toxiproxy (embedded) listening on http://127.0.0.1:PORT"
        assert "listening on" in line, line
        yield int(line.rsplit(":", 1)[1])
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.slow
def test_credentials_of_the_toxiproxy_url_are_in_no_artifact(
    tmp_path: Path, toxiproxy_port: int
) -> None:
    url = f"http://ops:{PASSWORD}@127.0.0.1:{toxiproxy_port}"
    done = subprocess.run(
        [sys.executable, "-m", "runner", "run", "disabled", "--toxiproxy", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert PASSWORD not in done.stdout + done.stderr
    assert f"http://***@127.0.0.1:{toxiproxy_port}" in done.stdout
    written = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {
        "report.json", "junit.xml", "summary.md", "report.html", "ledger.sqlite3",
    }  # fmt: skip
    for path in written:
        assert PASSWORD.encode() not in path.read_bytes(), f"the password leaked into {path}"
