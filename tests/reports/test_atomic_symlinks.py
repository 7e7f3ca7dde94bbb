"""write_atomic never writes through a planted symlink: random temp names, O_EXCL|O_NOFOLLOW."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import runner.reports.atomic as atomic
from runner.reports.atomic import write_atomic


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("precious", encoding="utf-8")
    return victim


def test_the_old_predictable_temp_name_planted_as_a_symlink_is_never_followed(
    tmp_path: Path,
) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    planted = out / f".report.json.{os.getpid()}.tmp"
    planted.symlink_to(victim)

    write_atomic(out / "report.json", "new")

    assert victim.read_text(encoding="utf-8") == "precious"
    assert (out / "report.json").read_text(encoding="utf-8") == "new"


def test_a_temp_name_taken_by_a_symlink_is_skipped_for_a_fresh_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = _victim(tmp_path)
    target = tmp_path / "summary.md"
    planted = tmp_path / ".summary.md.guessed.tmp"
    planted.symlink_to(victim)
    names = iter([planted, tmp_path / ".summary.md.fresh.tmp"])
    monkeypatch.setattr(atomic, "_tmp_path", lambda _path: next(names))

    write_atomic(target, "new")

    assert victim.read_text(encoding="utf-8") == "precious"
    assert target.read_text(encoding="utf-8") == "new"
    assert planted.is_symlink()  # left as found, not written through


def test_only_planted_names_means_an_error_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = _victim(tmp_path)
    planted = tmp_path / ".x.tmp"
    planted.symlink_to(victim)
    monkeypatch.setattr(atomic, "_tmp_path", lambda _path: planted)

    with pytest.raises(FileExistsError, match="no free temporary name"):
        write_atomic(tmp_path / "x", "new")
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not (tmp_path / "x").exists()


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    target = tmp_path / "junit.xml"
    target.symlink_to(victim)

    write_atomic(target, "new")

    assert victim.read_text(encoding="utf-8") == "precious"
    assert not target.is_symlink()
    assert target.read_text(encoding="utf-8") == "new"


def test_temp_names_are_unpredictable(tmp_path: Path) -> None:
    names = {atomic._tmp_path(tmp_path / "report.json").name for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith(".report.json.") and n.endswith(".tmp") for n in names)
