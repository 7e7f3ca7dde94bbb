"""Output locations are checked before anything starts: one line, exit 2 (bad value) or 3 (cannot write)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import DefinitionError, EnvironmentProblem
from runner.outputs import check_output_folder

REPO = Path(__file__).resolve().parents[2]


def _mkdrill(
    cwd: Path, *args: str, wrap: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MKDRILL_OUT", None)
    command = [sys.executable, "-m", "runner", *args]
    return subprocess.run(
        [*(wrap or []), *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _assert_one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0]


def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine", encoding="utf-8")
    before = _tree(tmp_path)
    done = _mkdrill(tmp_path, "run", "disabled", "--out", "taken")
    _assert_one_line(done, 2, "--out taken", "is a file", "give a folder")
    assert _tree(tmp_path) == before  # no .state, no ledger, nothing
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "mine"


def test_out_inside_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine", encoding="utf-8")
    before = _tree(tmp_path)
    done = _mkdrill(tmp_path, "run", "disabled", "--out", "taken/run-1")
    _assert_one_line(done, 2, "--out taken/run-1", "which is a file")
    assert _tree(tmp_path) == before


def _read_only_wrap(folder: Path) -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount a read-only folder")
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount -t tmpfs -o ro,size=1m tmpfs {folder}"],
        capture_output=True,
        timeout=10,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a new namespace here: {probe.stderr.decode().strip()}")
    return [
        unshare,
        "-m",
        "sh",
        "-c",
        f'mount -t tmpfs -o ro,size=1m tmpfs {folder} && exec "$@"',
        "sh",
    ]


def test_out_on_a_read_only_mount(tmp_path: Path) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir()
    wrap = _read_only_wrap(read_only)
    done = _mkdrill(tmp_path, "run", "disabled", "--out", "ro/run-1", wrap=wrap)
    _assert_one_line(done, 3, "--out ro/run-1", "read-only file system", "writable folder")
    assert _tree(tmp_path) == ["ro"]  # nothing in the parent either: no .state, no ledger


def test_default_reports_folder_on_a_read_only_mount(tmp_path: Path) -> None:
    wrap = _read_only_wrap(tmp_path)
    done = _mkdrill(tmp_path, "run", "disabled", wrap=wrap)
    _assert_one_line(done, 3, "reports folder reports", "read-only file system")


def test_bench_out_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine", encoding="utf-8")
    done = _mkdrill(tmp_path, "bench", "--quick", "--out", "taken/bench")
    _assert_one_line(done, 2, "--out taken/bench", "which is a file")


def test_no_permission_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda *_args, **_kw: False)
    with pytest.raises(EnvironmentProblem, match=r"\(permission denied\); give a writable folder"):
        check_output_folder(tmp_path / "run", "--out")
    assert list(tmp_path.iterdir()) == []


def test_a_dangling_symlink_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DefinitionError, match="dangling symlink"):
        check_output_folder(tmp_path / "link" / "run", "--out")


def test_a_new_folder_under_a_writable_one_passes_and_is_not_created(tmp_path: Path) -> None:
    assert check_output_folder(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
