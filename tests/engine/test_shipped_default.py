"""The one end-to-end proof of the default: `mkdrill run` drills the consumer as AssistSupport ships it.

The rest of the suite runs the same catalog with the fast profile (500 ms); this test removes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import mkdrill, read_report


@pytest.mark.slow
def test_mkdrill_run_with_no_options_drills_v040_service_v3_at_2500_ms_and_passes(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MKDRILL_CONSUMER_TIMEOUT_MS")
    done = mkdrill("run", cwd=workdir, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = next((workdir / "reports").glob("2*"))
    report = read_report(out)
    assert report["verdict"] == "passed" and report["suite"] == "nightly"
    assert report["pin"]["release_tag"] == "v0.4.0"
    assert report["pin"]["expected_service_contract_version"] == "service.v3"
    assert report["releases"]["baseline"] == "v0.4.0"
    assert report["settings"]["consumer_timeout_ms"] == "2500"
    assert report["settings"]["consumer_timeout_source"] == "pin default_timeout_ms"
    assert len(report["drills"]) >= 24
    for drill in report["drills"]:
        assert drill["verdict"] == "passed", (drill["name"], drill["reason"])
        consumer = drill["consumer"]
        assert (consumer["pin"], consumer["timeout_ms"], consumer["ask_body"]) == (
            "v0.4.0",
            "2500",
            "patched",
        ), drill["name"]
    by_name = {d["name"]: d for d in report["drills"]}
    above = by_name["latency-above-timeout"]
    # timeout + 300ms at the pin's 2500 ms: the health call times out, so Drafts fall back offline
    assert above["fault"]["latency_ms"] == 2800
    assert above["timeout_relative"] == {
        "fault.latency_ms": "timeout + 300ms",
        "window_s": "2 * timeout + 1s",
    }
    assert set(above["fallback_reasons"]) == {"offline"}
