"""Fixtures of the report tests: synthetic run records and a clean secret environment."""

from __future__ import annotations

import pytest

from runner.record import RunRecord, Verdict
from tests.reports.factory import make_drill, make_record, make_samples


@pytest.fixture
def passed_record() -> RunRecord:
    """A passed nightly run of two drills."""
    return make_record([make_drill("mk-offline-stop"), make_drill("mk-latency-high", ttr_s=None)])


@pytest.fixture
def mixed_record() -> RunRecord:
    """A failed run: one drill of each verdict but interrupted."""
    return make_record(
        [
            make_drill("mk-offline-stop"),
            make_drill(
                "mk-timeout",
                Verdict.FAILED,
                samples=make_samples(reason="timeout", fault_latency_ms=2600.0),
                failed_assertion=("fallback reason offline", "fallback reason timeout x151"),
            ),
            make_drill("mk-pause", Verdict.SKIPPED, samples=[], restore=False),
            make_drill("mk-partition", Verdict.ERROR, restore=False),
        ]
    )
