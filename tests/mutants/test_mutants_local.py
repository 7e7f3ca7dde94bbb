"""`mkdrill mutants` end to end on the embedded default (fast profile): matrix, reports, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from runner.contract import FallbackReason
from tests.engine.conftest import REPO, mkdrill


def read(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "report.json").read_text())
    return data


@pytest.mark.slow
def test_every_chosen_mutant_is_caught_and_the_matrix_is_printed_and_reported(
    tmp_path: Path,
) -> None:
    out = tmp_path / "reports" / "m"
    done = mkdrill(
        "mutants", "disabled", "junk-page", "typed-500-query-failed", "latency-below-timeout",
        "--mutant", "disabled-flag-ignored", "--mutant", "malformed-crashes-draft",
        "--mutant", "routes-by-legacy-error", "--out", str(out), cwd=tmp_path, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("mkdrill mutants ") and "quick mode" in lines[0]
    assert "4 drills × 3 mutants, consumer timeout 500 ms" in lines[0]
    # per mutant: the drill that caught it and the assertions that went red
    row = next(line for line in lines if line.startswith("routes-by-legacy-error "))
    assert "typed-500-query-failed (" in row and "machine_error_code" in row
    # per drill: the mutants it catches, or the control's reason
    assert any(line.startswith("disabled ") and "disabled-flag-ignored" in line for line in lines)
    control = next(line for line in lines if line.startswith("latency-below-timeout "))
    assert "control" in control
    assert "passed: every mutant caught (3 of 3)" in done.stdout
    report = read(out)
    assert report["schema"] == "mkdrill-mutants" and report["schema_version"] == "1.0"
    assert report["state"] == "finished" and report["mode"] == "quick"
    assert report["verdict"]["passed"] is True  # type: ignore[index]
    mutants = {m["name"]: m for m in report["mutants"]}  # type: ignore[attr-defined]
    assert [c["drill"] for c in mutants["disabled-flag-ignored"]["caught_by"]] == ["disabled"]
    assert "fallback_reason" in mutants["disabled-flag-ignored"]["caught_by"][0]["assertions"]
    assert mutants["malformed-crashes-draft"]["bug_class"].startswith("serde_json::from_str")
    drills = {d["name"]: d for d in report["drills"]}  # type: ignore[attr-defined]
    assert drills["latency-below-timeout"]["standing"] == "control"
    assert drills["junk-page"]["catches"] == ["malformed-crashes-draft"]
    cells = report["cells"]
    assert [c["defect"] for c in cells][:4] == ["none"] * 4  # type: ignore[index]
    # quick mode: a control is never run against a mutant
    assert not [c for c in cells if c["drill"] == "latency-below-timeout" and c["defect"] != "none"]  # type: ignore[union-attr]
    html = (out / "report.html").read_text()
    assert "Sensitivity matrix" in html and "routes-by-legacy-error" in html
    # the mutants run never touches the pin ledger
    assert not (tmp_path / "reports" / "ledger.sqlite3").exists()


@pytest.mark.slow
def test_a_weakened_drill_lets_its_mutant_survive_and_is_named(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    shutil.copy(REPO / "drills" / "junk-page.yaml", drills)
    caught = mkdrill(
        "mutants", "junk-page", "--mutant", "every-failure-offline", "--drills-dir", str(drills),
        "--out", str(tmp_path / "reports" / "before"), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert caught.returncode == 0, caught.stdout + caught.stderr

    # The same drill accepting any fallback reason: "offline" for a junk page now passes it.
    weak = yaml.safe_load((drills / "junk-page.yaml").read_text())
    weak["name"] = "junk-page-any"
    weak["expect"]["fallback_reasons"] = [r.value for r in FallbackReason]
    (drills / "junk-page.yaml").unlink()
    (drills / "junk-page-any.yaml").write_text(yaml.safe_dump(weak))
    out = tmp_path / "reports" / "after"
    done = mkdrill(
        "mutants", "junk-page-any", "--mutant", "every-failure-offline", "--full",
        "--drills-dir", str(drills), "--out", str(out), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "surviving mutant: every-failure-offline" in done.stdout
    assert "drill with no teeth: junk-page-any" in done.stdout
    verdict = read(out)["verdict"]
    assert verdict["survivors"] == ["every-failure-offline"]  # type: ignore[index]
    assert verdict["no_teeth"] == ["junk-page-any"]  # type: ignore[index]


def test_your_own_consumer_cannot_be_mutated_one_line_exit_2(tmp_path: Path) -> None:
    for flag, value in (("--probe-url", "http://127.0.0.1:9/v1/draft"), ("--probe-command", "x")):
        done = mkdrill("mutants", flag, value, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "cannot mutate a consumer of yours" in done.stderr
        assert done.stderr.startswith(f"mkdrill: {flag}: ")
    assert not (tmp_path / "reports").exists()


def test_list_names_every_mutant_with_its_bug_class(tmp_path: Path) -> None:
    done = mkdrill("mutants", "--list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n  bug:   ") == 13 and "stale-preflight\n" in done.stdout
    bad = mkdrill("mutants", "--mutant", "none", cwd=tmp_path)
    assert bad.returncode == 2 and "healthy consumer" in bad.stderr
