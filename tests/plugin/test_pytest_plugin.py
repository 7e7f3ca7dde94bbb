"""Drills as pytest items: collection, one mkdrill run per session, pytest's options and reports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

REPO = Path(__file__).resolve().parents[2]
DRILLS = REPO / "drills"


def _pytest(
    cwd: Path, *args: str, timeout: float = 240, shipped_timeout: bool = False
) -> subprocess.CompletedProcess[str]:
    """pytest in a subprocess: the suite's fast consumer profile unless `shipped_timeout`."""
    keep = () if shipped_timeout else ("MKDRILL_CONSUMER_TIMEOUT_MS",)
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("MKDRILL_", "PYTEST_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _copy_drills(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(DRILLS / f"{name}.yaml", folder / f"{name}.yaml")


def _report(cwd: Path) -> dict[str, object]:
    (run,) = (cwd / "reports").glob("*/report.json")
    data: dict[str, object] = json.loads(run.read_text(encoding="utf-8"))
    return data


def test_the_plugin_is_registered_and_imports_nothing_of_mkdrill_until_a_drill_is_collected() -> (
    None
):
    code = (
        "import sys, importlib.metadata as m; "
        "eps = [e.value for e in m.entry_points(group='pytest11') if e.name == 'mkdrill']; "
        "import runner.pytest_plugin; "
        "print(eps, sorted(n for n in sys.modules if n.startswith('runner.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['runner.pytest_plugin'] ['runner.pytest_plugin']", done.stderr


def test_the_projects_own_suite_collects_no_drill() -> None:
    # The repository's pytest settings (testpaths = tests); the python plugin off keeps it quick.
    done = _pytest(REPO, "--collect-only", "-q", "-p", "no:python")
    assert ".yaml" not in done.stdout, done.stdout
    assert "no tests collected" in done.stdout


def test_drill_folder_collects_one_item_per_file_and_k_selects(tmp_path: Path) -> None:
    shutil.copytree(DRILLS, tmp_path / "drills")
    (tmp_path / "notes.yaml").write_text("not: a drill\n", encoding="utf-8")  # outside drills/
    everything = _pytest(tmp_path, "--collect-only", "-q")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    items = [line for line in everything.stdout.splitlines() if "::" in line]
    assert len(items) == len(list(DRILLS.glob("*.yaml")))
    assert "drills/disabled.yaml::disabled" in items
    assert not any("notes.yaml" in line for line in items)

    picked = _pytest(tmp_path, "--collect-only", "-q", "drills", "-k", "contract or disabled")
    chosen = sorted(line for line in picked.stdout.splitlines() if "::" in line)
    assert chosen == [
        "drills/contract-shipped-ask-body.yaml::contract-shipped-ask-body",  # -k by suite name
        "drills/disabled.yaml::disabled",
    ]


def test_a_bad_drill_file_is_a_one_line_collection_error(tmp_path: Path) -> None:
    (tmp_path / "drills").mkdir()
    (tmp_path / "drills" / "broken.yaml").write_text(
        (DRILLS / "disabled.yaml")
        .read_text(encoding="utf-8")
        .replace("window_s: 2", "window_s: -1"),
        encoding="utf-8",
    )
    done = _pytest(tmp_path, "drills")
    assert done.returncode == 2, done.stdout
    assert "drills/broken.yaml: window_s: must be greater than 0 (got -1)" in done.stdout
    assert "Traceback" not in done.stdout
    assert not (tmp_path / "reports").exists()  # nothing started


@pytest.mark.slow
def test_two_drill_files_pass_with_a_junit_report_and_mkdrill_reports(tmp_path: Path) -> None:
    _copy_drills(tmp_path / "drills", "latency-above-timeout", "disabled")
    done = _pytest(
        tmp_path, "drills/latency-above-timeout.yaml", "drills/disabled.yaml", "--junitxml=x.xml"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    cases = next(iter(JUnitXml.fromfile(str(tmp_path / "x.xml"))))
    assert [(c.classname, c.name) for c in cases] == [
        ("drills.latency-above-timeout.yaml", "latency-above-timeout"),
        ("drills.disabled.yaml", "disabled"),
    ]
    report = _report(tmp_path)
    assert [(d["name"], d["verdict"]) for d in report["drills"]] == [  # type: ignore[index,union-attr]
        ("latency-above-timeout", "passed"),
        ("disabled", "passed"),
    ]
    assert f"mkdrill reports: reports/{report['run_id']}" in done.stdout
    assert (tmp_path / "reports" / str(report["run_id"]) / "junit.xml").is_file()
    assert (tmp_path / "reports" / "ledger.sqlite3").is_file()


USER_TEST = """
import pytest

def test_plain():
    assert 1 + 1 == 2

@pytest.mark.mkdrill("disabled")
def test_disabled_falls_back(mkdrill_drill):
    assert mkdrill_drill.verdict == "passed"
    assert set(mkdrill_drill.fallback_reasons) == {"feature-disabled"}
"""

USER_INI = """
[pytest]
mkdrill_drills = ours
mkdrill_run = --rate 25
"""


@pytest.mark.slow
def test_a_users_suite_with_a_marked_test_and_drill_folder_stops_at_the_first_failure(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_mine.py").write_text(USER_TEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(USER_INI, encoding="utf-8")
    ours = tmp_path / "ours"
    ours.mkdir()
    wrong = (DRILLS / "disabled.yaml").read_text(encoding="utf-8")
    wrong = wrong.replace("name: disabled", "name: a-wrong-expectation")
    (ours / "a-wrong-expectation.yaml").write_text(
        wrong.replace("[feature-disabled]", "[offline]"), encoding="utf-8"
    )
    latency = (DRILLS / "latency-below-timeout.yaml").read_text(encoding="utf-8")
    (ours / "b-never-reached.yaml").write_text(
        latency.replace("name: latency-below-timeout", "name: b-never-reached"), encoding="utf-8"
    )

    done = _pytest(tmp_path, "test_mine.py", "ours", "-x", "--junitxml=j.xml", "-v")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_mine.py::test_plain PASSED" in done.stdout
    assert "test_mine.py::test_disabled_falls_back PASSED" in done.stdout
    assert "ours/a-wrong-expectation.yaml::a-wrong-expectation FAILED" in done.stdout
    assert "b-never-reached" not in done.stdout.split("short test summary")[0].split("FAILED")[-1]
    assert "drill a-wrong-expectation failed:" in done.stdout  # the drill's reason, not a traceback
    assert "stopping after 1 failures" in done.stdout
    cases = {c.name: c for c in next(iter(JUnitXml.fromfile(str(tmp_path / "j.xml"))))}
    assert set(cases) == {"test_plain", "test_disabled_falls_back", "a-wrong-expectation"}
    assert isinstance(cases["a-wrong-expectation"].result[0], Failure)
    report = _report(tmp_path)
    assert [(d["name"], d["verdict"]) for d in report["drills"]] == [  # type: ignore[index,union-attr]
        ("disabled", "passed"),
        ("a-wrong-expectation", "failed"),
        ("b-never-reached", "skipped"),  # -x stopped pytest: recorded as not run
    ]
    assert report["verdict"] == "failed"


@pytest.mark.slow
def test_the_expected_red_contract_drill_is_an_xfail_labelled_everywhere(tmp_path: Path) -> None:
    _copy_drills(tmp_path / "drills", "contract-shipped-ask-body")
    done = _pytest(
        tmp_path, "-s", "-rx", "drills/contract-shipped-ask-body.yaml", shipped_timeout=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 xfailed" in done.stdout
    assert (
        "XFAIL drills/contract-shipped-ask-body.yaml::contract-shipped-ask-body - expected red:"
        in (done.stdout)
    )
    # mkdrill's own terminal lines (-s): labelled, with the consumer settings it ran with.
    assert "FAIL (expected red) [1/1] contract-shipped-ask-body" in done.stdout
    assert "consumer: pin v0.4.0, timeout 2500 ms (pin default_timeout_ms), shipped ask body" in (
        done.stdout
    )
    (reason_line,) = [line for line in done.stdout.splitlines() if "steady_enriched:" in line]
    assert reason_line.rstrip().endswith(" …") and len(reason_line.strip()) <= 300
    report = _report(tmp_path)
    (drill,) = report["drills"]  # type: ignore[misc]
    assert drill["expected_red"].startswith("AssistSupport's shipped ask body has no as_of")
    assert "missing field `as_of`" in drill["reason"]  # the whole reason, never cut
    # No steady state can come (the request itself is refused): the wait stops at 20 in a row.
    steady = [s for s in drill["samples"] if s["phase"] == "steady"]
    assert all(s["fallback_reason"] == "validation-error" for s in steady)
    gave_up = re.search(
        r"gave up after (\d+) validation-error in a row", drill["assertions"][0]["observed"]
    )
    assert gave_up is not None and int(gave_up.group(1)) >= 20
    assert len(steady) < 200  # not the ~1000 Drafts of a 10 s wait at 100/s
