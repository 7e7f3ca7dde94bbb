"""Expected-red drills are labelled in every report; reasons are shortened at a word, whole in report.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from runner.record import DrillResult, Verdict
from runner.reports import write_reports
from runner.reports.tables import consumer_label, verdict_label
from runner.text import ELLIPSIS
from tests.reports.factory import make_drill, make_record

WHY = "AssistSupport's shipped ask body has no as_of; MemoryKernel answers 422 (contract §3.4)"
LONG_MESSAGE = (
    'MemoryKernel query ask returned HTTP 422 [invalid_json]: {"service_contract_version":"service.v3",'
    '"error":{"code":"invalid_json","message":"Failed to deserialize the JSON body into the target '
    'type: missing field `as_of` at line 1 column 166","details":{"rejection":"Failed to deserialize'
)


def _red() -> DrillResult:
    drill = make_drill(
        "contract-shipped-ask-body",
        Verdict.FAILED,
        failed_assertion=("5 enriched Drafts in a row", "0/20 enriched"),
        consumer={"ask_body": "shipped", "pin": "v0.4.0", "timeout_ms": "2500"},
    )
    reason = f"steady_enriched: expected 5, observed 0/20 — {LONG_MESSAGE}"
    return drill.model_copy(update={"expected_red": WHY, "reason": reason})


def test_labels() -> None:
    red = _red()
    assert verdict_label(red) == "failed (expected red)"
    assert verdict_label(red.model_copy(update={"verdict": Verdict.PASSED})) == (
        "passed (expected red: now green)"
    )
    assert verdict_label(make_drill()) == "passed"
    assert consumer_label(red) == "pin v0.4.0, timeout 2500 ms, shipped ask body"


def test_every_report_says_expected_red_and_only_report_json_has_the_whole_reason(
    tmp_path: Path,
) -> None:
    record = make_record([make_drill("disabled"), _red()], settings={"ask_body": "patched"})
    write_reports(record, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    red = report["drills"][1]
    assert red["expected_red"] == WHY and red["reason"].endswith(LONG_MESSAGE)

    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "failed (expected red)" in summary
    assert "shipped ask body" in summary  # the settings this drill ran with
    assert "patched (run default; contract-shipped-ask-body: shipped)" in summary
    assert f'line 1 column 166" {ELLIPSIS} |' in summary  # cut after a JSON member, marked
    assert '"details":{"rejection"' not in summary
    assert f"- **contract-shipped-ask-body**: {WHY}" in summary

    (case_ok, case_red) = next(iter(JUnitXml.fromfile(str(tmp_path / "junit.xml"))))
    (failure,) = [r for r in case_red.result if isinstance(r, Failure)]
    assert failure.type == "ExpectedRed" and failure.message.startswith(f"expected red ({WHY})")
    assert case_ok.result == []


def test_the_final_terminal_table_labels_expected_red(capsys: pytest.CaptureFixture[str]) -> None:
    from runner.run_command import print_summary

    print_summary(make_record([make_drill("disabled"), _red()]))
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("contract-shipped-ask-body")]
    assert "failed (expected red)" in row
    assert out.rstrip().endswith(
        "expected red (known findings, see summary.md): contract-shipped-ask-body"
    )
