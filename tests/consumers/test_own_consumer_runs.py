"""`mkdrill run --probe-*` on the local backend: the errors a user of their own consumer can meet.

Each run drills the stand-in consumer (tests/consumers/own_consumer.py) started with its own
environment only, on a pin whose default_base_url is a free port, where mkdrill's proxy then listens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.consumers.helpers import (
    OWN_CONSUMER,
    consumer_environment,
    free_port,
    own_consumer,
    pin_calling,
)
from tests.engine.conftest import mkdrill, read_report


@pytest.mark.parametrize("backend", ["local", "compose"])  # refused before Docker is asked
def test_a_taken_proxy_port_is_one_line_exit_3_naming_what_holds_it(
    tmp_path: Path, backend: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = mkdrill(
            "run", "offline-stopped", "--backend", backend, "--probe-url",
            "http://127.0.0.1:9/v1/draft", "--proxy-listen", f"127.0.0.1:{port}", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    holder_name = Path(f"/proc/{os.getpid()}/comm").read_text().strip()  # this test's process
    assert (
        f"--proxy-listen 127.0.0.1:{port}: port already in use by pid {os.getpid()} ({holder_name})"
        in lines[0]
    )
    # nothing started, nothing written: no run folder, no ledger (only the run lock's .state)
    assert [p.name for p in (tmp_path / "reports").iterdir()] in ([], [".state"])


@pytest.mark.slow
def test_a_consumer_too_slow_to_drill_is_an_environment_error_with_its_figures(
    tmp_path: Path,
) -> None:
    port = free_port()
    pin = pin_calling(tmp_path, "v0.4.0", port)
    out = tmp_path / "reports" / "slow"
    with own_consumer(pin, "--cpu-ms", "400") as url:  # 5 Drafts/s at most on 2 cores
        done = mkdrill("run", "offline-stopped", "--probe-url", url, "--consumer-pin", str(pin),
                       "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    # too few Drafts for its window, or (on a loaded machine) Drafts slower than its bound or
    # none answered at all: each says so with the figures
    assert "consumer too slow to drill" in done.stderr and url in done.stderr
    report = read_report(out)
    assert report["verdict"] == "error" and "consumer too slow" in report["reason"]
    assert report["drills"] == []  # never a failed drill
    assert report["consumer"]["capacity"]["drafts_per_s"] < 6


@pytest.mark.slow
def test_a_consumer_pinned_to_another_release_is_told_which_pins_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MKDRILL_CONSUMER_TIMEOUT_MS")  # mkdrill sets no timeout: the pin's counts
    port = free_port()
    pin = pin_calling(tmp_path, "v0.4.0", port)
    other = pin_calling(tmp_path, "v0.3.2", port)
    shorter = json.loads(other.read_text())
    other.write_text(json.dumps({**shorter, "default_timeout_ms": 1000}), encoding="utf-8")
    out = tmp_path / "reports" / "mismatch"
    with own_consumer(pin, "--cpu-ms", "5") as url:
        done = mkdrill("run", "offline-stopped", "--probe-url", url, "--pin", str(other),
                       "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = read_report(out)
    assert report["consumer"]["pin_from"] == "its preflight answer"
    # the bounds follow the timeout of the pin the consumer carries (2500 ms), not --pin's 1000 ms
    assert report["consumer"]["timeout_ms"] == 2500
    assert report["drills"][0]["latency_bound_ms"] == 3 * 2500 + 250
    reason = report["drills"][0]["reason"]
    assert reason.startswith("steady_enriched:") and "version-mismatch" in reason
    assert "the consumer's pin (v0.4.0 service.v3/api.v1)" in reason
    assert "the release under test (v0.3.2 service.v2/api.v1) differ" in reason


RESTART = """\
import os, signal, subprocess, sys, time
pid_file, log = sys.argv[1], sys.argv[2]
if os.path.exists(pid_file):
    try:
        os.kill(int(open(pid_file).read()), signal.SIGTERM)
    except ProcessLookupError:
        pass
    time.sleep(0.3)
with open(log, "a") as out:
    out.write(" ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                       if k.startswith(("ASSISTSUPPORT_", "MKDRILL_PIN_FILE"))) + "\\n")
consumer = subprocess.Popen(
    [sys.executable, CONSUMER, "serve", "--pin", os.environ["MKDRILL_PIN_FILE"],
     "--port", PORT, "--cpu-ms", "5"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
open(pid_file, "w").write(str(consumer.pid))
"""


@pytest.mark.slow
def test_a_restart_command_applies_the_flag_and_the_pin_to_a_consumer_by_url(
    tmp_path: Path,
) -> None:
    consumer_port, proxy_port = free_port(), free_port()
    pin = pin_calling(tmp_path, "v0.4.0", proxy_port)
    script = tmp_path / "restart.py"
    script.write_text(
        RESTART.replace("CONSUMER,", f"{str(OWN_CONSUMER)!r},").replace(
            "PORT,", f"'{consumer_port}',"
        )
    )
    pid_file, log = tmp_path / "consumer.pid", tmp_path / "restarts.log"
    command = f"{sys.executable} {script} {pid_file} {log}"
    out = tmp_path / "reports" / "restarted"
    try:
        done = mkdrill(
            "run", "disabled", "version-mismatch-consumer-ahead", "offline-stopped",
            "--probe-url", f"http://127.0.0.1:{consumer_port}/v1/draft", "--consumer-pin", str(pin),
            "--consumer-restart-command", command, "--allow-command-probe", "--out", str(out),
            cwd=tmp_path, env=consumer_environment(),
        )  # fmt: skip
    finally:
        if pid_file.exists():  # the consumer the last restart left running
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = read_report(out)
    drills = {d["name"]: d for d in report["drills"]}
    assert {d["verdict"] for d in drills.values()} == {"passed"}
    assert drills["disabled"]["fallback_reasons"].keys() == {"feature-disabled"}
    assert drills["version-mismatch-consumer-ahead"]["fallback_reasons"].keys() == {
        "version-mismatch"
    }
    restarts = log.read_text().splitlines()
    # attach, flag off, flag back, candidate pin, own pin back
    assert len(restarts) == 5, restarts
    assert all(
        f"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=http://127.0.0.1:{proxy_port}" in r for r in restarts
    )
    assert "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL=0" in restarts[1]
    assert "MKDRILL_PIN_FILE=" in restarts[3] and "v0.3.2" in restarts[3]
    assert json.dumps(report["consumer"]["restart_command"]) == json.dumps(command)


def test_a_taken_default_base_url_is_named_as_the_pins_not_as_a_flag(tmp_path: Path) -> None:
    """No --proxy-listen given: the port is the pin's default_base_url (a MemoryKernel there, say)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        pin = pin_calling(tmp_path, "v0.4.0", port)
        done = mkdrill(
            "run", "offline-stopped", "--probe-url", "http://127.0.0.1:9/v1/draft",
            "--consumer-pin", str(pin), cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "--proxy-listen 127.0.0.1" not in line
    assert (
        f"the MemoryKernel proxy (your consumer's pin's default_base_url) 127.0.0.1:{port}: "
        f"port already in use by pid {os.getpid()}" in line
    )
    assert "give --proxy-listen HOST:PORT and point your consumer there" in line
