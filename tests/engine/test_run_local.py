"""`mkdrill run` end to end on the embedded default: verdicts, reports, exit codes, restore timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import REPO, mkdrill, read_report


def test_rollback_drill_passes_and_times_the_restore_with_milestones(workdir: Path) -> None:
    out = workdir / "reports" / "run1"
    done = mkdrill(
        "run", "version-mismatch-deploy", "offline-stopped", "--out", str(out), cwd=workdir
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = read_report(out)
    assert report["verdict"] == "passed"
    by_name = {d["name"]: d for d in report["drills"]}
    rollback = by_name["version-mismatch-deploy"]
    assert rollback["verdict"] == "passed"
    assert rollback["fallback_reasons"].keys() == {"version-mismatch"}
    ttr = rollback["time_to_restore"]
    assert ttr["kind"] == "rollback" and ttr["target_release"] == "v0.4.0"
    assert 0 < rollback["time_to_restore_s"] <= ttr["budget_s"]
    names = [m["name"] for m in ttr["milestones"]]
    assert names == [
        "service_up",
        "health_versions",
        "schema_ready",
        "preflight_ready",
        "first_enriched_draft",
    ]
    times = [m["at_s"] for m in ttr["milestones"]]
    assert all(t is not None for t in times) and times == sorted(times)
    assert by_name["offline-stopped"]["fallback_reasons"].keys() == {"offline"}
    # every Draft answered, at the probe rate the drill asserts
    observe = next(p for p in rollback["probe"] if p["phase"] == "observe")
    assert observe["availability"] == 1.0 and observe["samples"] >= 40
    assert "PASS" in done.stdout and "version-mismatch-deploy" in done.stdout
    for name in ("report.json", "junit.xml", "summary.md", "report.html"):
        assert (out / name).is_file()
    # the ledger sits beside the run folders and knows the pin
    assert (workdir / "reports" / "ledger.sqlite3").is_file()


def test_contract_drill_is_red_and_says_why(workdir: Path) -> None:
    out = workdir / "reports" / "contract"
    done = mkdrill("run", "--suite", "contract", "--out", str(out), cwd=workdir)
    assert done.returncode == 1, done.stdout + done.stderr
    report = read_report(out)
    drill = report["drills"][0]
    assert drill["name"] == "contract-shipped-ask-body"
    assert drill["verdict"] == "failed"
    assert drill["consumer"]["ask_body"] == "shipped"
    assert drill["fallback_reasons"] == {
        "validation-error": drill["fallback_reasons"]["validation-error"]
    }
    steady = [s for s in drill["samples"] if s["phase"] == "steady"]
    assert steady and all(s["machine_error_code"] == "invalid_json" for s in steady)
    assert "missing field `as_of`" in drill["reason"]
    assert "validation-error" in drill["reason"] and "invalid_json" in drill["reason"]


def test_a_consumer_defect_turns_drills_red(workdir: Path) -> None:
    out = workdir / "reports" / "blocking"
    done = mkdrill(
        "run",
        "offline-stopped",
        "hang",
        "--consumer-defect",
        "draft-blocks",
        "--out",
        str(out),
        cwd=workdir,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = read_report(out)
    assert report["settings"]["consumer_defect"] == "draft-blocks"
    assert [d["verdict"] for d in report["drills"]] == ["failed", "failed"]
    for drill in report["drills"]:
        assert drill["consumer"]["defect"] == "draft-blocks"
        failed = {a["name"] for a in drill["assertions"] if not a["passed"]}
        # a blocked Draft is never answered
        assert "draft_availability" in failed, drill["reason"]
    assert "defect draft-blocks" in done.stdout


def test_same_drills_pass_with_fallback_enrichment(workdir: Path) -> None:
    out = workdir / "reports" / "fallback"
    done = mkdrill("run", "hang", "--out", str(out), cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dry_run_starts_nothing_and_writes_nothing(workdir: Path) -> None:
    done = mkdrill("run", "--dry-run", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "offline-stopped" in done.stdout and "consumer pin v0.4.0" in done.stdout
    # the suite's fast profile (MKDRILL_CONSUMER_TIMEOUT_MS=500) scales the timeout-bound drills
    assert "timeout 500 ms (--consumer-timeout-ms)" in done.stdout
    assert not (workdir / "reports").exists()


def test_dry_run_default_is_assistsupports_shipped_pin_and_timeout(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MKDRILL_CONSUMER_TIMEOUT_MS")
    done = mkdrill("run", "--dry-run", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert (
        "consumer pin v0.4.0 @ 7e4806a34b98 (service.v3/api.v1)" in done.stdout
        and "timeout 2500 ms (pin default_timeout_ms)" in done.stdout
    ), done.stdout
    assert "MemoryKernel v0.4.0 (baseline)" in done.stdout
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[4:]}
    # timeout + 300ms and 2 * timeout + 1s at the pin's 2500 ms
    assert "latency_ms=2800" in rows["latency-above-timeout"], rows["latency-above-timeout"]
    assert " 6s " in rows["latency-above-timeout"] and "2500 ms" in rows["hang"]


def test_bad_pin_is_one_line_exit_2_and_starts_nothing(workdir: Path) -> None:
    pin = workdir / "pin.json"
    pin.write_text(json.dumps({"release_tag": 5}))
    done = mkdrill("run", "disabled", "--pin", str(pin), cwd=workdir)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pin.json" in lines[0], done.stderr
    assert not (workdir / "reports").exists()


def test_pin_whose_manifest_hash_does_not_match(workdir: Path) -> None:
    pin = workdir / "memorykernel-integration-pin.json"
    pin.write_bytes((REPO / "tests/fixtures/assistsupport-pins/v0.3.2.json").read_bytes())
    manifest = workdir / "memorykernel-producer-manifest.json"
    manifest.write_bytes(
        (REPO / "tests/fixtures/producer-manifests/v0.3.2.json").read_bytes() + b" "
    )
    done = mkdrill("run", "disabled", "--pin", str(pin), cwd=workdir)
    assert done.returncode == 2
    assert "memorykernel-producer-manifest.json" in done.stderr and "sha256" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_unknown_drill_and_suite_are_bad_input(workdir: Path) -> None:
    done = mkdrill("run", "no-such-drill", cwd=workdir)
    assert done.returncode == 2 and "unknown drill 'no-such-drill'" in done.stderr
    done = mkdrill("run", "--suite", "weekly", cwd=workdir)
    assert done.returncode == 2 and "unknown suite 'weekly'" in done.stderr
    assert not (workdir / "reports").exists()


def test_user_pin_for_the_candidate_release_runs_against_v040(workdir: Path) -> None:
    out = workdir / "reports" / "v3"
    pin = REPO / "tests/fixtures/assistsupport-pins/v0.4.0.json"
    done = mkdrill(
        "run", "version-mismatch-deploy", "--pin", str(pin), "--out", str(out), cwd=workdir
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = read_report(out)
    assert report["pin"]["release_tag"] == "v0.4.0"
    assert report["releases"] == {"baseline": "v0.4.0", "candidate": "v0.3.2"}
