"""What a plain (non-editable) install gets: the catalog, the scenarios and compose/ inside the package, no click needed."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_catalog_the_scenarios_and_the_compose_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("mkdrill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    drills = {p.name for p in (REPO / "drills").glob("*.yaml")}
    assert drills and {f"runner/data/drills/{name}" for name in drills} <= names
    scenarios = {p.name for p in (REPO / "rehearsals").glob("*.yaml")}
    assert scenarios and {f"runner/data/rehearsals/{name}" for name in scenarios} <= names
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


def test_a_plain_install_stages_the_image_build_context_itself(tmp_path: Path) -> None:
    """`mkdrill images build` from a non-editable install: no checkout, yet a whole context."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(tmp_path / "wheel"), str(REPO)],
        check=True, capture_output=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("mkdrill-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    script = (
        "import sys, tarfile, json\n"
        "from runner.image_source import ImageSource\n"
        "source = ImageSource.find()\n"
        "source.wheels_dir.mkdir(parents=True)\n"
        "(source.wheels_dir / 'requirements.txt').write_text('typer\\n')\n"
        "with source.context() as context:\n"
        "    names = tarfile.open(fileobj=context).getnames()\n"
        "import runner\n"
        "print(json.dumps({'checkout': str(source.checkout), 'runner': runner.__file__,\n"
        "    'requirements': source.requirements(), 'wheels': str(source.wheels_dir),\n"
        "    'names': names}))\n"
    )
    # -S: no site hooks, so the editable install of this checkout cannot shadow the plain one.
    dependencies = next(p for p in sys.path if p.endswith("site-packages"))
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(site)!r}, {dependencies!r}]\n" + script],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["checkout"] == "None" and seen["runner"].startswith(str(site))
    assert seen["wheels"] == str(tmp_path / "cache" / "mkdrill" / "images" / "wheels")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(seen["requirements"]) == sorted(declared)
    names = set(seen["names"])
    for needed in (
        "compose/Dockerfile",
        "compose/toxiproxy-entrypoint.py",
        "compose/.wheels/requirements.txt",
        "runner/cli.py",
        "runner/reference/memorykernel/store.py",
    ):
        assert needed in names, needed
    assert not any("__pycache__" in name for name in names)
