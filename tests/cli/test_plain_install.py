"""What a plain (non-editable) install gets: the catalog and compose/ inside the package, no click needed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_catalog_and_the_compose_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("mkdrill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    drills = {p.name for p in (REPO / "drills").glob("*.yaml")}
    assert drills and {f"runner/data/drills/{name}" for name in drills} <= names
    for shipped in (
        "docker-compose.yml",
        "Dockerfile",
        "toxiproxy.json",
        "toxiproxy-entrypoint.py",
    ):
        assert f"runner/data/compose/{shipped}" in names, shipped


def test_usage_errors_are_one_line_exit_2_without_click_installed(tmp_path: Path) -> None:
    # sys.modules["click"] = None makes `import click` fail, as in an install without it.
    script = (
        "import sys; sys.modules['click'] = None; "
        "sys.argv = ['mkdrill', 'run', '--no-such-flag']; "
        "from runner.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["mkdrill: No such option: --no-such-flag; see --help"]
