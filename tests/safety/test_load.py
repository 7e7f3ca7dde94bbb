"""Under 50 concurrent Drafts during every catalog fault, no Draft fails and none exceeds its bound.

The load's Drafts are judged apart from the probe's (their own availability and bound), so a
starved probe cannot pass on the load's samples, and the run must pass outright. The consumer runs as
shipped (its pin's 2500 ms timeout), not the suite's fast 500 ms profile: at 500 ms,
latency-below-timeout leaves 200 ms of slack across three calls, which 51 Drafts in flight on two
cores eat whenever anything else runs on the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import mkdrill, read_report
from tests.machine_share import ALONE_GROUP

# 51 Drafts in flight on two cores: it runs alone on the machine (tests/conftest.py).
pytestmark = pytest.mark.xdist_group(ALONE_GROUP)


@pytest.mark.slow
def test_fifty_concurrent_drafts_during_every_nightly_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MKDRILL_CONSUMER_TIMEOUT_MS")
    out = tmp_path / "reports" / "load"
    done = mkdrill(
        "run", "--suite", "nightly", "--load", "50", "--out", str(out), cwd=tmp_path, timeout=900
    )
    report = read_report(out)
    assert done.returncode == 0, [
        (d["name"], d["reason"]) for d in report["drills"] if d["verdict"] != "passed"
    ]
    assert len(report["drills"]) >= 20
    assert {d["consumer"]["timeout_ms"] for d in report["drills"]} >= {"2500"}
    for drill in report["drills"]:
        checks = {a["name"]: a for a in drill["assertions"]}
        # the load really ran: every one of the 50 Drafters answered at least once in the window
        assert drill["load"]["workers"] == 50 and drill["load"]["drafters_answered"] == 50
        for name in ("draft_availability", "draft_latency", "probe_rate"):
            assert checks[name]["passed"], (drill["name"], checks[name])
        for name in ("load_availability", "load_latency"):
            assert checks[name]["passed"], (drill["name"], checks[name])
        # the probe's own samples hold only the probe's Drafts
        observe = next(p for p in drill["probe"] if p["phase"] == "observe")
        assert observe["samples"] < drill["load"]["drafts"] + 1000
