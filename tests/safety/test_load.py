"""Under 50 concurrent Drafts during every catalog fault, no Draft fails and none exceeds its bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import mkdrill, read_report


@pytest.mark.slow
def test_fifty_concurrent_drafts_during_every_nightly_fault(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "load"
    done = mkdrill(
        "run", "--suite", "nightly", "--load", "50", "--out", str(out), cwd=tmp_path, timeout=900
    )
    assert done.returncode in (0, 1), done.stderr
    report = read_report(out)
    assert len(report["drills"]) >= 20
    for drill in report["drills"]:
        checks = {a["name"]: a for a in drill["assertions"]}
        observe = next(p for p in drill["probe"] if p["phase"] == "observe")
        # the load really ran: every one of the 50 Drafters answered at least once in the window
        assert observe["samples"] >= 50 + 40, (drill["name"], observe["samples"])
        for name in ("draft_availability", "draft_latency"):
            assert checks[name]["passed"], (drill["name"], checks[name])
