"""What a run imports: the modules `mkdrill run` uses, not httpx's command line (click, rich, pygments)."""

from __future__ import annotations

import json
import subprocess
import sys

NOT_LOADED = ("httpx._main", "rich", "click", "pygments", "docker")


def _loaded_after(code: str) -> dict[str, object]:
    script = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps({{name: name in sys.modules for name in {list(NOT_LOADED)!r}}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_a_run_imports_httpx_without_its_command_line() -> None:
    loaded = _loaded_after(
        "import runner.cli, runner.run_command, runner.backends.local, runner.bench.attached\n"
        "import httpx\n"
        "assert httpx.Client(timeout=1.0) is not None"
    )
    assert not any(loaded.values()), loaded


def test_httpx_command_line_still_imports_when_asked_for() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runner.cli, httpx, httpx._main; print(callable(httpx._main.main))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "True"
