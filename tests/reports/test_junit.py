"""junit.xml: one suite per run, one case per drill, readable by common JUnit consumers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped

from runner.record import RunRecord, Verdict
from runner.reports import write_reports
from runner.reports.junit import render_junit
from tests.reports.factory import make_drill, make_record, make_samples


def _suite(record: RunRecord, tmp_path: Path):  # type: ignore[no-untyped-def]
    write_reports(record, tmp_path)
    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    suites = list(xml)
    assert len(suites) == 1
    return suites[0]


def test_one_testcase_per_drill_with_outcomes(mixed_record: RunRecord, tmp_path: Path) -> None:
    suite = _suite(mixed_record, tmp_path)
    assert suite.name == "nightly"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 1, 1, 1)
    cases = {case.name: case for case in suite}
    assert list(cases) == ["mk-offline-stop", "mk-timeout", "mk-pause", "mk-partition"]
    assert all(case.classname == "nightly" for case in cases.values())
    assert cases["mk-offline-stop"].is_passed
    failure = cases["mk-timeout"].result[0]
    assert isinstance(failure, Failure)
    assert failure.message == (
        "fallback reason: expected fallback reason offline, observed fallback reason timeout x151"
    )
    assert "expected fallback reason offline; observed fallback reason timeout x151" in failure.text
    assert isinstance(cases["mk-pause"].result[0], Skipped)
    assert cases["mk-pause"].result[0].message == "mk-pause skipped"
    assert isinstance(cases["mk-partition"].result[0], Error)


def test_properties_carry_run_id_and_pin(passed_record: RunRecord, tmp_path: Path) -> None:
    suite = _suite(passed_record, tmp_path)
    props = {p.name: p.value for p in suite.properties()}
    assert props["run_id"] == passed_record.run_id
    assert props["pin.release_tag"] == "v0.3.2"
    assert props["pin.commit_sha"] == passed_record.pin.commit_sha
    assert props["run_verdict"] == "passed"
    assert suite.timestamp == "2026-01-05T02:00:00"


def test_adhoc_run_and_control_characters_still_give_valid_xml(tmp_path: Path) -> None:
    samples = make_samples(error="reset\x00by\x1bpeer")
    drill = make_drill(
        "mk-weird", Verdict.FAILED, samples=samples, failed_assertion=("a\x07", "b<&>")
    )
    record = make_record([drill], suite=None)
    root = ET.fromstring(render_junit(record))
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("classname") == "adhoc"
    failure = case.find("failure")
    assert failure is not None
    assert "b<&>" in (failure.get("message") or "")


def test_interrupted_run_without_drills_is_an_empty_suite(tmp_path: Path) -> None:
    suite = _suite(make_record([], verdict=Verdict.INTERRUPTED), tmp_path)
    assert suite.tests == 0
    assert {p.name: p.value for p in suite.properties()}["run_verdict"] == "interrupted"
