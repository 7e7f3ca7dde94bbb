"""The nightly CI workflow example: scheduled, publishes summary.md and junit.xml, and its command parses."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples" / "ci" / "github-actions-nightly.yml"


def _workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return data


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _workflow()["jobs"]["drills"]["steps"]
    return steps


def test_runs_on_a_nightly_schedule() -> None:
    triggers = _workflow().get("on", _workflow().get(True))  # YAML 1.1 reads a bare `on` as true
    (schedule,) = triggers["schedule"]
    minute, hour, *every_day = schedule["cron"].split()
    assert every_day == ["*", "*", "*"] and minute.isdigit() and hour.isdigit()


def test_publishes_summary_md_and_junit_xml_even_when_drills_fail() -> None:
    steps = _steps()
    publish = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert "reports/nightly/summary.md" in publish["run"] and publish["if"] == "always()"
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert "reports/nightly/junit.xml" in upload["with"]["path"] and upload["if"] == "always()"


def test_its_mkdrill_command_is_valid_today(tmp_path: Path) -> None:
    (command,) = [s["run"] for s in _steps() if s.get("run", "").startswith("mkdrill run")]
    args = shlex.split(command)[1:]
    assert "--out" in args and args[args.index("--out") + 1] == "reports/nightly"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKDRILL_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args, "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "out reports/nightly" in done.stdout
