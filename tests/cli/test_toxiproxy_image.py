"""--toxiproxy-image / MKDRILL_TOXIPROXY_IMAGE: which Toxiproxy image the compose backend runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from docker.errors import ImageNotFound

from runner.images import DEFAULT_TOXIPROXY_IMAGE, choose_toxiproxy_image, toxiproxy_image


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, tag: str) -> object:
        if tag not in self.present:
            raise ImageNotFound(tag)
        return object()


class _Engine:
    def __init__(self, *present: str) -> None:
        self.images = _Images(set(present))


def test_an_asked_image_wins_else_the_registry_image_when_present_else_the_embedded() -> None:
    assert choose_toxiproxy_image(_Engine(), "mirror.example/toxiproxy:2.12.0") == (  # type: ignore[arg-type]
        "mirror.example/toxiproxy:2.12.0"
    )
    assert choose_toxiproxy_image(_Engine(DEFAULT_TOXIPROXY_IMAGE)) == DEFAULT_TOXIPROXY_IMAGE  # type: ignore[arg-type]
    assert choose_toxiproxy_image(_Engine()) == toxiproxy_image()  # type: ignore[arg-type]


def _mkdrill(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip


def test_the_flag_on_the_local_backend_is_bad_input_in_one_line(tmp_path: Path) -> None:
    done = _mkdrill("run", "--toxiproxy-image", "x:1", "--dry-run", cwd=tmp_path, env={})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--toxiproxy-image" in lines[0] and "compose" in lines[0]
    done = _mkdrill("env", "up", "--toxiproxy-image", "x:1", cwd=tmp_path, env={})
    assert done.returncode == 2 and "--toxiproxy-image" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_the_environment_variable_is_left_to_compose_runs(tmp_path: Path) -> None:
    done = _mkdrill("run", "--dry-run", cwd=tmp_path, env={"MKDRILL_TOXIPROXY_IMAGE": "x:1"})
    assert done.returncode == 0, done.stderr
