"""Security checks: loopback-only listeners, no shell from drill files, safe YAML, one-line input errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from runner.backends.processes import start_service
from runner.cli import main

REPO = Path(__file__).resolve().parents[2]
DRILLS = REPO / "drills"
EMBEDDED_PIN = REPO / "runner" / "data" / "pins" / "v0.3.2.json"
RUN_DEADLINE_S = 90.0


def mkdrill(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def listeners(process: psutil.Process) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of `process` and its descendants."""
    found: set[tuple[str, int]] = set()
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for member in tree:
        try:
            connections = member.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


MkdrillCli = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> MkdrillCli:
    """`mkdrill ARGS` in this process from `tmp_path` (fast: input errors need no fresh interpreter);
    returns the exit code and stderr. Tracebacks are not swallowed: they fail the test."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["mkdrill", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        code = exited.value.code
        return (code if isinstance(code, int) else 1), capsys.readouterr().err

    return invoke


def nothing_started(cwd: Path) -> bool:
    """No reports folder, no run state, no ledger: the command stopped before touching anything."""
    return not (cwd / "reports").exists()


# Listeners ---------------------------------------------------------------------------------------


def test_every_listener_of_a_local_run_binds_loopback_only(tmp_path: Path) -> None:
    run = subprocess.Popen(
        # offline-stopped restarts MemoryKernel; wrong-shape puts a fault responder in the runner
        [
            sys.executable,
            "-m",
            "runner",
            "run",
            "offline-stopped",
            "wrong-shape",
            "--out",
            "reports/run",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[tuple[str, int]] = set()
    try:
        runner = psutil.Process(run.pid)
        deadline = time.monotonic() + RUN_DEADLINE_S
        while run.poll() is None and time.monotonic() < deadline:
            seen |= listeners(runner)
            try:
                run.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
    finally:
        if run.poll() is None:
            run.terminate()
        _out, stderr = run.communicate(timeout=30)
    assert run.returncode == 0, stderr
    ports = {port for _address, port in seen}
    # Toxiproxy API, the proxy in front of MemoryKernel, MemoryKernel, the consumer, the responder.
    assert len(ports) >= 5, seen
    elsewhere = {(a, p) for a, p in seen if a != "127.0.0.1"}
    assert not elsewhere, f"listeners not on 127.0.0.1: {elsewhere}"


@pytest.mark.parametrize(
    ("service", "args"),
    [
        ("assistsupport", ["--pin", str(EMBEDDED_PIN), "--port", "0"]),
        ("toxiproxy", ["--port", "0"]),
    ],
)
def test_serve_without_host_binds_loopback(tmp_path: Path, service: str, args: list[str]) -> None:
    argv = [service, *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    process = start_service(service, argv, tmp_path / f"{service}.log")
    try:
        assert process.url.startswith("http://127.0.0.1:"), process.url
        bound = listeners(psutil.Process(process.pid))
        assert bound, "the service listens somewhere"
        assert {address for address, _port in bound} == {"127.0.0.1"}, bound
    finally:
        process.stop()


# No shell commands from drills -------------------------------------------------------------------


def test_probe_command_without_allow_flag_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    done = mkdrill(tmp_path, "run", "disabled", "--probe-command", f"touch {marker}")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--allow-command-probe" in lines[0]
    assert not marker.exists()
    assert nothing_started(tmp_path)


def test_drill_files_with_command_keys_are_refused(tmp_path: Path, cli: MkdrillCli) -> None:
    marker = tmp_path / "ran"
    folder = tmp_path / "sneaky"
    folder.mkdir()
    keys = ["command", "shell", "exec", "probe_command"]
    files = []
    for index, key in enumerate(keys):
        drill = folder / f"{key}.yaml"
        text = (
            (DRILLS / "disabled.yaml")
            .read_text()
            .replace("name: disabled", f"name: sneaky-{index}")
        )
        drill.write_text(text + f'{key}: "touch {marker}"\n')
        files.append(drill)
    code, stderr = cli("validate", str(folder))
    assert code == 2
    assert sorted(stderr.strip().splitlines()) == sorted(
        f"{folder / key}.yaml: {key}: unknown field; remove it or check its spelling"
        for key in keys
    )
    code, stderr = cli("run", *map(str, files))
    assert code == 2
    assert stderr.startswith(f"mkdrill: {folder}"), stderr
    assert not marker.exists()
    assert nothing_started(tmp_path)


def test_allowed_command_probe_runs_the_command(tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    stub = tmp_path / "draft.sh"
    # A consumer whose enrichment always applies: it never falls back, not even when disabled.
    stub.write_text(
        "#!/bin/sh\n"
        f'echo draft >> "{calls}"\n'
        'printf \'{"draft":"x","enrichment":{"applied":true}}\\n\'\n'
    )
    done = mkdrill(
        tmp_path,
        "run",
        "disabled",
        "--probe-command",
        f"/bin/sh {stub}",
        "--allow-command-probe",
        "--out",
        "reports/cmd",
        timeout=RUN_DEADLINE_S,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "cmd" / "report.json").read_text())
    (drill,) = report["drills"]
    checks = {a["name"]: a["passed"] for a in drill["assertions"]}
    # every Draft came from the command and was answered, enriched...
    assert checks["draft_availability"] and checks["steady_enriched"], checks
    # ...so the drill catches that the fallback never happened
    assert checks["fallback_reason"] is False, checks
    observed = next(p for p in drill["probe"] if p["phase"] == "observe")
    assert observed["samples"] >= 20
    total = sum(p["samples"] for p in drill["probe"])
    assert len(calls.read_text().splitlines()) >= total


# Safe YAML -------------------------------------------------------------------------------------


PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/new:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.check_call [["touch", "{marker}"]]',
    "!!python/name:os.system",
]


def test_python_yaml_tags_are_refused_and_never_run(tmp_path: Path, cli: MkdrillCli) -> None:
    marker = tmp_path / "pwned"
    lines = (DRILLS / "disabled.yaml").read_text().splitlines()
    for index, tagged in enumerate(PYTHON_TAGS):
        drill = tmp_path / f"pwn{index}.yaml"
        drill.write_text(
            "\n".join(
                f"description: {tagged.format(marker=marker)}"
                if line.startswith("description:")
                else line
                for line in lines
            )
            + "\n"
        )
        for command in ("validate", "run"):
            code, stderr = cli(command, str(drill))
            assert code == 2, (command, stderr)
            (line,) = stderr.strip().splitlines()
            assert str(drill) in line and "YAML" in line and "no tags" in line, line
    assert not marker.exists()
    assert nothing_started(tmp_path)


# One-line errors for bad pin and drill files ---------------------------------------------------


def pin_cases(tmp_path: Path) -> dict[str, Path]:
    broken = tmp_path / "broken.json"
    broken.write_text("{\n")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    beside = tmp_path / "config"
    beside.mkdir()
    pin = beside / "memorykernel-integration-pin.json"
    pin.write_bytes(EMBEDDED_PIN.read_bytes())
    (beside / "memorykernel-producer-manifest.json").write_text('{"edited": true}\n')
    return {
        "missing": tmp_path / "missing.json",
        "invalid-json": broken,
        "directory": folder,
        "manifest-mismatch": pin,
    }


@pytest.mark.parametrize("case", ["missing", "invalid-json", "directory", "manifest-mismatch"])
def test_bad_pin_file_is_one_line_exit_2(tmp_path: Path, cli: MkdrillCli, case: str) -> None:
    pin = pin_cases(tmp_path)[case]
    code, stderr = cli("run", "disabled", "--pin", str(pin))
    assert code == 2, stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("mkdrill: ") and str(pin.parent) in line, line
    assert nothing_started(tmp_path)


@pytest.mark.parametrize(
    ("case", "content"),
    [
        ("missing", None),
        ("not-yaml", "name: [\n"),
        ("not-a-mapping", "- just\n- a list\n"),
    ],
)
def test_bad_drill_file_is_one_line_exit_2(
    tmp_path: Path, cli: MkdrillCli, case: str, content: str | None
) -> None:
    drill = tmp_path / f"{case}.yaml"
    if content is not None:
        drill.write_text(content)
    for command in ("validate", "run"):
        code, stderr = cli(command, str(drill))
        assert code == 2, (command, stderr)
        (line,) = stderr.strip().splitlines()
        assert str(drill) in line, line
    assert nothing_started(tmp_path)


def test_every_problem_of_a_drill_file_is_its_own_line_naming_the_file(
    tmp_path: Path, cli: MkdrillCli
) -> None:
    drill = tmp_path / "many.yaml"
    drill.write_text("name: many\nfault: {kind: latency, latency_ms: -5}\nshell: ls\n")
    code, stderr = cli("validate", str(drill))
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith(f"{drill}: ") for line in lines), lines
    assert any(line.startswith(f"{drill}: fault.latency_ms: ") for line in lines)
    assert any(line.startswith(f"{drill}: shell: ") for line in lines)
    assert os.listdir(tmp_path) == ["many.yaml"]
