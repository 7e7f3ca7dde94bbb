"""report.json: the record plus conveniences, valid against the shipped schema, readable back."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from runner.errors import DefinitionError
from runner.record import RunRecord, Verdict
from runner.reports import write_reports
from runner.reports.evidence import build_evidence, render_evidence
from runner.reports.loader import load_report, resolve_report_path
from runner.reports.schema import build_report_schema, load_report_schema
from tests.reports.factory import make_drill, make_record


def _validate(data: dict[str, object]) -> None:
    jsonschema.Draft202012Validator(load_report_schema()).validate(data)


def test_report_json_is_the_record_plus_conveniences(
    mixed_record: RunRecord, tmp_path: Path
) -> None:
    write_reports(mixed_record, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))

    assert data["verdict"] == "failed"
    assert data["schema_version"] == "1.2"
    assert [d["name"] for d in data["drills"]] == [d.name for d in mixed_record.drills]
    assert [d["verdict"] for d in data["drills"]] == ["passed", "failed", "skipped", "error"]
    assert data["drills"][0]["time_to_restore_s"] == pytest.approx(1.5)
    assert data["drills"][2]["time_to_restore_s"] is None
    assert data["drills"][1]["fallback_reasons"] == mixed_record.drills[1].fallback_reasons
    assert data["drills"][1]["fault_p95_latency_ms"] > 2600
    assert data["counts"] == {
        "passed": 1,
        "failed": 1,
        "interrupted": 0,
        "error": 1,
        "skipped": 1,
        "not_applicable": 0,
    }
    dumped = mixed_record.model_dump(mode="json")
    for key, value in dumped.items():
        if key != "drills":
            assert data[key] == value
    for drill, expected in zip(data["drills"], dumped["drills"], strict=True):
        assert {k: v for k, v in drill.items() if k in expected} == expected


def test_generated_reports_validate_against_the_shipped_schema(
    mixed_record: RunRecord, passed_record: RunRecord
) -> None:
    interrupted = make_record([], verdict=Verdict.INTERRUPTED)
    for record in (mixed_record, passed_record, interrupted):
        _validate(json.loads(render_evidence(build_evidence(record))))


def test_schema_rejects_a_report_without_time_to_restore(passed_record: RunRecord) -> None:
    data = build_evidence(passed_record)
    del data["drills"][0]["time_to_restore_s"]
    with pytest.raises(jsonschema.ValidationError, match="time_to_restore_s"):
        _validate(data)


def test_schema_rejects_an_unknown_verdict(passed_record: RunRecord) -> None:
    data = build_evidence(passed_record)
    data["verdict"] = "green"
    with pytest.raises(jsonschema.ValidationError):
        _validate(data)


def test_shipped_schema_matches_the_record_model() -> None:
    # Fails when runner/record.py changed without regenerating the schema: run
    # python -c "from runner.reports.schema import write_report_schema; write_report_schema()"
    assert load_report_schema() == build_report_schema()


def test_rendered_json_round_trips_and_keeps_one_sample_per_line(passed_record: RunRecord) -> None:
    data = build_evidence(passed_record)
    text = render_evidence(data)
    assert json.loads(text) == data
    sample_lines = [line for line in text.splitlines() if line.lstrip().startswith('{"t_s"')]
    assert len(sample_lines) == sum(len(d.samples) for d in passed_record.drills)


def test_load_report_reads_back_the_record(mixed_record: RunRecord, tmp_path: Path) -> None:
    write_reports(mixed_record, tmp_path / "run-1")
    for given in (str(tmp_path / "run-1"), str(tmp_path / "run-1" / "report.json")):
        assert load_report(resolve_report_path(given, tmp_path)) == mixed_record
    assert load_report(resolve_report_path("run-1", tmp_path)) == mixed_record


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such report"),
        ("{not json", "not JSON"),
        ("[]", "not a mkdrill report"),
        ('{"schema_version": "2.0"}', "schema_version '2.0'"),
        ('{"schema_version": "1.0", "run_id": "x"}', "not a valid mkdrill report"),
    ],
)
def test_load_report_errors_name_the_path(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DefinitionError, match=message) as caught:
        load_report(path)
    text = str(caught.value)
    assert str(path) in text
    assert "\n" not in text
    assert caught.value.exit_code == 2


def test_report_with_a_bad_drill_verdict_is_invalid(tmp_path: Path) -> None:
    data = build_evidence(make_record([make_drill()]))
    data["drills"][0]["verdict"] = "green"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"drills\.0\.verdict"):
        load_report(path)
