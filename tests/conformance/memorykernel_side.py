"""One MemoryKernel under comparison, real binary or reference, and what it answers, reduced.

`Side.start(kind, release, db)` runs the real binary (from MKDRILL_REAL_MEMORYKERNEL_BIN,
`RELEASE=PATH[,RELEASE=PATH]`) or `mkdrill serve memorykernel`, both on the real command line
(`--db`, `--bind`), ready when health answers. `observe(...)` reduces an answer to what must
match: status, content type, the JSON's keys and value types (list lengths too), `error.code`
and `error.message` with ids, timestamps and the database path masked.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.http11.raw import raw_exchange

REAL_BIN_ENV = "MKDRILL_REAL_MEMORYKERNEL_BIN"
_ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
_TXN = re.compile(r"txn_[0-9a-f]{16}")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# A prepare error quotes the statement; each side words its SQL its own way.
_QUOTED_SQL = re.compile(r" in .* at offset \d+$", re.S)


def real_binaries() -> dict[str, Path]:
    """RELEASE -> binary from MKDRILL_REAL_MEMORYKERNEL_BIN (empty when unset)."""
    text = os.environ.get(REAL_BIN_ENV, "").strip()
    binaries: dict[str, Path] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        release, _, path = part.partition("=")
        binaries[release.strip()] = Path(path.strip())
    return binaries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Side:
    """A running MemoryKernel: `.url`, `.db`, `.client`; `stop()` ends it."""

    kind: str
    release: str
    db: Path
    port: int
    process: subprocess.Popen[bytes]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    @classmethod
    def start(cls, kind: str, release: str, db: Path) -> Side:
        port = free_port()
        bind = ["--db", str(db), "--bind", f"127.0.0.1:{port}"]
        if kind == "real":
            command = [str(real_binaries()[release]), *bind]
        else:
            command = [sys.executable, "-m", "runner", "serve", "memorykernel"]
            command += ["--release", release, *bind]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1.0)
                return cls(kind, release, db, port, process)
            except httpx.HTTPError:
                if process.poll() is not None:
                    break
                time.sleep(0.05)
        process.kill()
        process.wait()
        raise RuntimeError(f"{kind} MemoryKernel {release} did not answer health on {port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def raw(self, data: bytes) -> bytes:
        """Raw bytes on a new connection and everything that came back (date masked)."""
        return raw_exchange(self.port, data, 1.5)


def shape(value: Any) -> Any:
    """Keys and value types of a JSON value; lists keep their length and each item's shape."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    return type(value).__name__


def mask(text: str, db: Path) -> str:
    """A message with the database folder, ULIDs, snapshot ids and timestamps masked."""
    text = text.replace(str(db.parent), "<dir>")
    text = _TIMESTAMP.sub("<ts>", _TXN.sub("<txn>", _ULID.sub("<ulid>", text)))
    return _QUOTED_SQL.sub(" in <sql> at offset <n>", text)


def observe(response: httpx.Response, db: Path) -> dict[str, Any]:
    """What must match of one answer."""
    seen: dict[str, Any] = {
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
        "connection": response.headers.get("connection"),
    }
    try:
        document = json.loads(response.content)
    except ValueError:
        seen["body"] = "<non-json>" if response.content else "<empty>"
        return seen
    seen["shape"] = shape(document)
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        seen["code"] = error.get("code")
        seen["message"] = mask(str(error.get("message")), db)
    return seen
