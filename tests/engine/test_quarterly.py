"""`mkdrill run --suite quarterly`: v0.4.0 -> v0.3.2 as AssistSupport's rollback drill record describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import mkdrill, read_report


@pytest.mark.slow
def test_quarterly_rolls_back_to_v032_with_the_consumer_repinned_every_milestone_timed(
    workdir: Path,
) -> None:
    out = workdir / "reports" / "quarterly"
    done = mkdrill("run", "--suite", "quarterly", "--out", str(out), cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    report = read_report(out)
    drill = next(d for d in report["drills"] if d["name"] == "rollback-last-green")
    assert drill["verdict"] == "passed", drill["reason"]
    assert drill["consumer"]["pin"] == "v0.4.0"  # the runtime target it started from
    ttr = drill["time_to_restore"]
    assert ttr["kind"] == "rollback" and ttr["target_release"] == "v0.3.2"
    assert ttr["target_pin"] == "v0.3.2 (service.v2)" and ttr["repinned"] is True
    names = [m["name"] for m in ttr["milestones"]]
    assert names == [
        "service_up",
        "health_versions",
        "schema_ready",
        "consumer_repinned",
        "preflight_ready",
        "first_enriched_draft",
    ]
    times = [m["at_s"] for m in ttr["milestones"]]
    assert all(t is not None for t in times) and times == sorted(times), times
    assert ttr["total_s"] == round(times[-1], 4) and ttr["total_s"] <= ttr["budget_s"]
    # The trio that came back, each file by SHA-256 (AssistSupport's v0.3.2 pin, manifest, matrix)
    assert ttr["trio"]["pin_sha256"].startswith("b436260720127d5c")
    assert ttr["trio"]["manifest_sha256"].startswith("67408e0bcf7d9e88")
    assert "rollback drill record" in ttr["trio"]["provenance"]
    # enriched again on service.v2 after the re-pin, and the next drill found v0.4.0 back in place
    checks = {a["name"]: a for a in drill["assertions"]}
    assert checks["verify_enriched"]["passed"] and checks["time_to_restore"]["passed"]
    verify = [s for s in drill["samples"] if s["phase"] == "verify"]
    assert verify and all(s["ok"] for s in verify)
    after = next(d for d in report["drills"] if d["name"] == "version-mismatch-deploy")
    assert after["verdict"] == "passed" and after["time_to_restore"]["target_release"] == "v0.4.0"
