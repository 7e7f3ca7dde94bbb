"""Start the stand-in consumer of one's own (tests/consumers/own_consumer.py) for end-to-end runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from runner.pins import default_pin_path

OWN_CONSUMER = Path(__file__).resolve().parent / "own_consumer.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin_calling(tmp_path: Path, tag: str, port: int) -> Path:
    """The embedded pin of `tag` with its default_base_url on `port`: an unconfigured consumer's target."""
    pin = json.loads(default_pin_path(tag).read_bytes())
    pin["default_base_url"] = f"http://127.0.0.1:{port}"
    path = tmp_path / f"pin-{tag}-{port}.json"
    path.write_text(json.dumps(pin, indent=2) + "\n", encoding="utf-8")
    return path


def consumer_environment(**extra: str) -> dict[str, str]:
    """This environment without any ASSISTSUPPORT_* (the consumer's own only), plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTSUPPORT_")}
    return {**base, **extra}


@contextlib.contextmanager
def own_consumer(pin: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the stand-in consumer; yield its Draft URL; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, str(OWN_CONSUMER), "serve", "--pin", str(pin), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env if env is not None else consumer_environment(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30.0)
        assert ready, "the consumer printed no ready line in 30 s"
        match = re.search(r"listening on (http://\S+)", process.stdout.readline())
        assert match is not None
        yield f"{match.group(1)}/v1/draft"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
