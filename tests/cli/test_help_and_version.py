"""`mkdrill --version`, and `--help` listing each command's whole description (nothing cut with "…")."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
import typer
from typer.testing import CliRunner

from runner import __version__
from runner.cli import app
from runner.commands.help import first_paragraph


def _groups() -> list[list[str]]:
    """The argument path of the root and of every command group."""
    command = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(group: click.Command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(group, "commands", {}).items():
            if getattr(sub, "commands", None):
                walk(sub, [*path, name])

    walk(command, [])
    return paths


def _described(group_path: list[str]) -> dict[str, str]:
    command: click.Command = typer.main.get_command(app)
    for name in group_path:
        command = command.commands[name]  # type: ignore[attr-defined]
    subs: dict[str, click.Command] = command.commands  # type: ignore[attr-defined]
    return {name: first_paragraph(sub.help) or "" for name, sub in subs.items()}


@pytest.mark.parametrize("group_path", _groups(), ids=lambda p: " ".join(p) or "mkdrill")
def test_help_lists_every_command_with_its_whole_description(group_path: list[str]) -> None:
    result = CliRunner().invoke(app, [*group_path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:", 1)[1]
    flat = " ".join(listing.split())
    assert "…" not in listing and "..." not in listing
    described = _described(group_path)
    assert described
    for name, text in described.items():
        assert text, f"{name} has no description"
        assert f"{name} {text}" in flat, f"{name}: {text!r} not shown whole"


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"mkdrill {__version__}\n"


def test_version_from_the_console_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--version"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mkdrill {__version__}"
