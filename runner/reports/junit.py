"""junit.xml: one testsuite per run, one testcase per drill, for CI test-result viewers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from runner.record import DrillResult, RunRecord, Verdict
from runner.reports.redact import mask_url_credentials
from runner.text import shorten_at_word

# XML 1.0 forbids most control characters; a probe error string may carry them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
DEFAULT_SUITE = "adhoc"


def _clean(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def _timestamp(iso: str) -> str:
    # The JUnit XSD wants ISO 8601 without a zone; the record's times are UTC.
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        return _clean(iso)
    return parsed.replace(tzinfo=None).isoformat(timespec="seconds")


def _failure_text(drill: DrillResult) -> tuple[str, str]:
    failed = [a for a in drill.assertions if not a.passed]
    if not failed:
        return drill.reason or "drill failed", drill.reason
    first = failed[0]
    message = f"{first.name}: expected {first.expected}, observed {first.observed}"
    if len(failed) > 1:
        message += f" (and {len(failed) - 1} more)"
    details = "\n".join(
        f"[{a.phase.value}] {a.name}: expected {a.expected}; observed {a.observed}" for a in failed
    )
    return message, f"{drill.reason}\n{details}" if drill.reason else details


def _testcase(suite: str, drill: DrillResult) -> ET.Element:
    case = ET.Element(
        "testcase",
        {"classname": suite, "name": _clean(drill.name), "time": f"{drill.duration_s:.3f}"},
    )
    if drill.file:
        case.set("file", _clean(drill.file))
    if drill.verdict == Verdict.FAILED:
        message, text = _failure_text(drill)
        kind = "DrillFailed"
        if drill.expected_red is not None:  # red by design: the failure says so first
            kind = "ExpectedRed"
            message = f"expected red ({drill.expected_red}): {message}"
            text = f"expected red: {drill.expected_red}\n{text}"
        failure = ET.SubElement(
            case, "failure", {"message": _clean(shorten_at_word(message)), "type": kind}
        )
        failure.text = _clean(text)
    elif drill.verdict in (Verdict.SKIPPED, Verdict.NOT_APPLICABLE):
        ET.SubElement(case, "skipped", {"message": _clean(drill.reason)})
    elif drill.verdict in (Verdict.ERROR, Verdict.INTERRUPTED):
        kind = "EnvironmentError" if drill.verdict == Verdict.ERROR else "Interrupted"
        error = ET.SubElement(
            case, "error", {"message": _clean(drill.reason or kind), "type": kind}
        )
        error.text = _clean(drill.reason)
    out = ET.SubElement(case, "system-out")
    out.text = _clean(f"{drill.verdict.value}: {drill.reason}")
    return case


def render_junit(record: RunRecord) -> str:
    """The junit.xml text."""
    suite_name = record.suite or DEFAULT_SUITE
    verdicts = [d.verdict for d in record.drills]
    root = ET.Element("testsuites", {"name": "mkdrill"})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite_name,
            "tests": str(len(verdicts)),
            "failures": str(verdicts.count(Verdict.FAILED)),
            "errors": str(verdicts.count(Verdict.ERROR) + verdicts.count(Verdict.INTERRUPTED)),
            "skipped": str(
                verdicts.count(Verdict.SKIPPED) + verdicts.count(Verdict.NOT_APPLICABLE)
            ),
            "time": f"{sum(d.duration_s for d in record.drills):.3f}",
            "timestamp": _timestamp(record.started_at),
            "hostname": _clean(record.host.get("hostname", "localhost")),
        },
    )
    root.attrib.update(
        {k: suite.attrib[k] for k in ("tests", "failures", "errors", "skipped", "time")}
    )
    properties = ET.SubElement(suite, "properties")
    pin = record.pin
    for name, value in (
        ("run_id", record.run_id),
        ("run_verdict", record.verdict.value),
        ("pin.release_tag", pin.release_tag),
        ("pin.commit_sha", pin.commit_sha),
        ("pin.service_contract_version", pin.expected_service_contract_version),
        ("pin.api_contract_version", pin.expected_api_contract_version),
        ("pin.source", pin.source),
        ("pin.file_sha256", pin.pin_file_sha256),
        ("backend", record.backend),
        ("toxiproxy", record.toxiproxy),
        ("tool_version", record.tool_version),
        *consumer_properties(record),
        *(
            (f"memorykernel.{release}.{field}", value or "")
            for release, who in sorted(record.memorykernel.items())
            for field, value in (
                ("kind", who.kind),
                ("name", who.name),
                ("digest", who.digest),
                ("service_contract_version", who.service_contract_version),
            )
        ),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    for drill in record.drills:
        suite.append(_testcase(suite_name, drill))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def consumer_properties(record: RunRecord) -> list[tuple[str, str]]:
    """The consumer under test as properties: which, its pin, its capacity, what was not applied."""
    consumer = record.consumer
    if consumer is None:
        return []
    properties = [
        ("consumer.kind", consumer.kind),
        ("consumer.target", mask_url_credentials(consumer.target)),
        ("consumer.pin", consumer.pin),
        ("consumer.timeout_ms", str(consumer.timeout_ms)),
    ]
    capacity = consumer.capacity
    if capacity is not None:
        properties += [
            ("consumer.capacity.drafts_per_s", f"{capacity.drafts_per_s:g}"),
            ("consumer.capacity.in_flight", str(capacity.in_flight)),
            ("consumer.capacity.p50_ms", f"{capacity.p50_ms:g}"),
            ("consumer.capacity.p95_ms", f"{capacity.p95_ms:g}"),
        ]
    properties += [
        (f"consumer.not_applied.{name}", why) for name, why in consumer.not_applied.items()
    ]
    return properties
