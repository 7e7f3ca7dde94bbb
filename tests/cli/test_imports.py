"""What a run imports: the modules `mkdrill run` uses, not httpx's command line (click, rich, pygments)."""

from __future__ import annotations

import json
import subprocess
import sys

# Nothing listens there: the attached entry stops at the unknown drill, before touching them.
ENDPOINTS = json.dumps(
    {
        "consumer_url": "http://127.0.0.1:9",
        "memorykernel_url": "http://127.0.0.1:9",
        "toxiproxy_url": "http://127.0.0.1:9",
        "proxy_name": "p",
    }
)
NOT_LOADED = (
    "httpx._main",
    "rich",
    "click",
    "pygments",
    "docker",
)


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


def test_the_attached_bench_entry_imports_httpx_without_its_command_line() -> None:
    # `python -m runner.bench.attached` does not go through runner.cli: it installs the hook itself.
    loaded = _loaded_after("import runner.bench.attached")
    assert not any(loaded.values()), loaded


def _freeze_count_at_exit(entry: str) -> int:
    # Registered before the entry runs, so it runs after the entry's own atexit handler.
    script = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
        f"{entry}\n"
    )
    return _frozen_count_printed(script)


def test_the_command_line_leaves_its_objects_to_the_os_at_exit() -> None:
    entry = "import sys\nsys.argv = ['mkdrill', '--help']\nfrom runner.cli import main\nmain()"
    assert _freeze_count_at_exit(entry) > 10_000


def test_the_attached_bench_entry_leaves_its_objects_to_the_os_at_exit() -> None:
    entry = (
        "from runner.bench.attached import main\n"
        f"main(['--endpoints', {ENDPOINTS!r}, '--release', 'v0.4.0', '--out', '/x', 'no-such-drill'])"
    )
    assert _freeze_count_at_exit(entry) > 10_000


def test_importing_the_command_line_leaves_the_collector_alone() -> None:
    # Only an entry that runs freezes: a test (or the pytest plugin) importing it keeps its collector.
    script = "import atexit, gc\nimport runner.cli, runner.bench.attached\natexit.register(lambda: print('frozen', gc.get_freeze_count()))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "frozen 0"


def _freeze_count_after(code: str) -> int:
    return _frozen_count_printed(f"import gc\n{code}\nprint('frozen', gc.get_freeze_count())\n")


def _frozen_count_printed(script: str) -> int:
    """Run `script` in a fresh interpreter; the N of the `frozen N` line it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("frozen "), done.stdout + done.stderr
    return int(last.split()[1])


def test_the_run_commands_imports_are_frozen_once_made() -> None:
    # The app itself (not main): nothing is frozen at exit, only what the run command imported.
    code = (
        "from runner.cli import app\n"
        "try:\n"
        "    app(['run', 'no-such-drill', '--dry-run'], standalone_mode=False)\n"
        "except Exception:\n"
        "    pass\n"
        "assert gc.isenabled()"
    )
    assert _freeze_count_after(code) > 10_000


def test_the_attached_entry_freezes_its_imports_when_run_as_the_program() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['attached', '--endpoints', "
        f"{ENDPOINTS!r}, '--release', 'v0.4.0', '--out', '/x', 'no-such-drill']\n"
        "try:\n"
        "    runpy.run_module('runner.bench.attached', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert gc.isenabled()"
    )
    assert _freeze_count_after(code) > 10_000
