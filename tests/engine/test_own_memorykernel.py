"""`--memorykernel-bin`: a MemoryKernel of one's own on the local backend, and no false green from it.

The binaries here are small scripts around the reference service, each broken the way a user's
build can be: one exits as soon as it is given another database (a second `--db` makes the real
binary exit 2), one ignores `--db`, one exits on start-up. Every schema drill must end as an
environment error (exit 3) that names the process, its exit code and its last log lines, never
pass on the `offline` Drafts a dead service produces.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from tests.engine.conftest import mkdrill, read_report

SERVE = f'exec "{sys.executable}" -m runner serve memorykernel --release "$RELEASE"'

# Each script gets the real command line (`--bind IP:PORT --db PATH`) and the release it stands for.
FAKES = {
    # Refuses any database but the one it first ran on: what a `--db` baked into an image does.
    "exits-on-other-db": f"""
case "$4" in */memorykernel.sqlite3) ;; *)
  echo "error: the argument '--db <DB>' cannot be used multiple times" >&2; exit 2;;
esac
{SERVE} "$@"
""",
    # Serves its own database whatever it is told.
    "ignores-db": f'{SERVE} --bind "$2" --db "$(dirname "$0")/own-$RELEASE.sqlite3"\n',
    "exits-on-start-up": "echo \"error: unexpected argument '--bind' found\" >&2\nexit 2\n",
}


def fake_binaries(tmp_path: Path, kind: str) -> list[str]:
    """`--memorykernel-bin` flags for both releases, each a script of `kind`."""
    flags = []
    for release in ("v0.3.2", "v0.4.0"):
        script = tmp_path / f"{kind}-{release}"
        script.write_text(f"#!/bin/sh\nRELEASE={release}\n{FAKES[kind]}")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        flags += ["--memorykernel-bin", f"{release}={script}"]
    return flags


def named_process(kind: str, text: str) -> bool:
    """Whether `text` names the script that ran (the baseline release's)."""
    return any(f"{kind}-{release}" in text for release in ("v0.3.2", "v0.4.0"))


@pytest.mark.parametrize(
    ("kind", "drill"),
    [
        ("exits-on-other-db", "schema-corrupt"),
        ("exits-on-other-db", "schema-directory"),
        ("ignores-db", "schema-corrupt"),
        ("ignores-db", "schema-directory"),
        ("ignores-db", "typed-503-future-schema"),
    ],
)
def test_a_schema_fault_that_did_not_take_effect_is_an_environment_error(
    tmp_path: Path, kind: str, drill: str
) -> None:
    out = tmp_path / "reports" / "run"
    result = mkdrill("run", drill, "--out", str(out), *fake_binaries(tmp_path, kind), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    report = read_report(out)
    (only,) = report["drills"]
    assert only["verdict"] == "error", only["reason"]
    assert report["verdict"] == "error"
    reason = only["reason"]
    assert named_process(kind, reason), reason
    if kind == "exits-on-other-db":
        assert "exited with code 2" in reason and "cannot be used multiple times" in reason
    else:
        assert "did not take effect" in reason and "running" in reason
    observed = [s for s in only["samples"] if s["phase"] == "observe"]
    assert observed == [], "no fault window is observed when the fault did not happen"


def test_a_memorykernel_that_exits_on_start_up_stops_the_run_with_its_exit_code(
    tmp_path: Path,
) -> None:
    out = tmp_path / "reports" / "run"
    result = mkdrill(
        "run",
        "schema-corrupt",
        "--out",
        str(out),
        *fake_binaries(tmp_path, "exits-on-start-up"),
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    (message,) = [line for line in result.stderr.splitlines() if line.startswith("mkdrill: ")]
    assert named_process("exits-on-start-up", message) and "exited with code 2" in message
    assert "unexpected argument '--bind' found" in message
    assert read_report(out)["verdict"] == "error"


def test_a_release_without_a_binary_is_bad_input_naming_it(tmp_path: Path) -> None:
    flags = fake_binaries(tmp_path, "ignores-db")[:2]  # v0.3.2 only
    result = mkdrill("run", "--dry-run", *flags, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "mkdrill: --memorykernel-bin: no binary for release v0.4.0, which this run needs "
        "(given: v0.3.2); add --memorykernel-bin v0.4.0=PATH"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("v0.4.0", "expected RELEASE=PATH"),
        ("v0.4.0=/no/such/binary", "v0.4.0=/no/such/binary: no such file"),
    ],
)
def test_a_bad_binary_flag_is_one_line_exit_2(tmp_path: Path, value: str, message: str) -> None:
    result = mkdrill("run", "--dry-run", "--memorykernel-bin", value, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
