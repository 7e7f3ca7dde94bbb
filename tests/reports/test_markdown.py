"""summary.md: GitHub tables for a PR comment or an incident ticket."""

from __future__ import annotations

from runner.record import RunRecord, Verdict
from runner.reports.markdown import render_markdown
from tests.reports.factory import make_drill, make_record


def _table_after(text: str, heading: str) -> list[list[str]]:
    lines = text.split(heading, 1)[1].strip().splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_header_names_verdict_pin_backend_toxiproxy_and_ask_body(mixed_record: RunRecord) -> None:
    text = render_markdown(mixed_record)
    assert text.startswith("## mkdrill run `20260105T020000Z-ab12`: ❌ failed")
    fields = {row[0]: row[1] for row in _table_after(text, "\n\n")[2:]}
    assert fields["pin"].startswith("v0.3.2 @ cf331449e158 (service.v2/api.v1)")
    assert fields["backend"] == "local"
    assert fields["toxiproxy"] == "embedded"
    assert fields["consumer ask body"] == "patched"


def test_one_row_per_drill_with_latency_and_restore_against_bounds(mixed_record: RunRecord) -> None:
    rows = _table_after(render_markdown(mixed_record), "### Drills")
    header, body = rows[0], rows[2:]
    assert header[:4] == ["drill", "verdict", "fault", "consumer"]
    assert [r[0] for r in body] == ["mk-offline-stop", "mk-timeout", "mk-pause", "mk-partition"]
    timeout = body[1]
    assert timeout[1] == "failed"
    assert timeout[3] == "patched ask body"
    assert timeout[4] == "timeout (156)"
    assert header[5] == "other fallbacks (not judged)" and timeout[5] == "—"
    assert timeout[6] == "100.0% (151/151)"  # Drafts started in observe, as the verdict counts
    assert timeout[7].endswith("/ 7500 ms")
    assert timeout[8] == "1.50 s / 10.00 s"


def test_failed_assertions_show_expected_and_observed(mixed_record: RunRecord) -> None:
    rows = _table_after(render_markdown(mixed_record), "### Failed assertions")
    assert rows[2] == [
        "mk-timeout",
        "fallback reason",
        "observe",
        "fallback reason offline",
        "fallback reason timeout x151",
    ]


def test_pipes_and_newlines_cannot_break_a_table() -> None:
    drill = make_drill("mk-x", Verdict.FAILED, failed_assertion=("a | b", "line1\nline2"))
    rows = _table_after(render_markdown(make_record([drill])), "### Failed assertions")
    assert rows[2][3:] == ["a \\| b", "line1 line2"]


def test_run_without_drills_says_so() -> None:
    text = render_markdown(make_record([], verdict=Verdict.INTERRUPTED))
    assert "interrupted" in text.splitlines()[0]
    assert "No drill has finished yet." in text
