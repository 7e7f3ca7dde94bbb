"""Report writer benchmark, 20 drills x 300 samples: `python -m tests.reports.bench_reports`."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runner.record import RunRecord, Verdict
from runner.reports import write_reports
from runner.reports.evidence import build_evidence, render_evidence
from runner.reports.html import render_html
from runner.reports.junit import render_junit
from runner.reports.markdown import render_markdown
from tests.reports.factory import make_drill, make_record, make_samples

REASONS = ("offline", "timeout", "malformed-payload", "version-mismatch", "schema-unavailable")


def build(drills: int = 20, samples: int = 300) -> RunRecord:
    """A run of `drills` drills with `samples` samples each, one in five failed."""
    made = []
    for i in range(drills):
        reason = REASONS[i % len(REASONS)]
        failed = i % 5 == 3
        made.append(
            make_drill(
                f"drill-{i:02d}",
                Verdict.FAILED if failed else Verdict.PASSED,
                samples=make_samples(
                    samples, reason, 2600.0 if reason == "timeout" else 4.0, seed=i
                ),
                failed_assertion=("offline", reason) if failed else None,
            )
        )
    return make_record(made)


def best_ms(action: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    """(best, median) wall time of `action` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    """Print the cost of each writer and of a whole write_reports call."""
    record = build()
    rows = [
        ("report.json (build + render)", lambda: render_evidence(build_evidence(record))),
        ("junit.xml", lambda: render_junit(record)),
        ("summary.md", lambda: render_markdown(record)),
        ("report.html", lambda: render_html(record)),
        (
            "html + junit + md",
            lambda: (render_html(record), render_junit(record), render_markdown(record)),
        ),
    ]
    with tempfile.TemporaryDirectory() as folder:
        rows.append(
            ("write_reports (all four, fsync)", lambda: write_reports(record, Path(folder)))
        )
        for label, action in rows:
            best, median = best_ms(action)
            sys.stdout.write(f"{label:34} best {best:7.1f} ms   median {median:7.1f} ms\n")


if __name__ == "__main__":
    main()
