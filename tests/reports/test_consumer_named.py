"""Every report names the consumer under test, its capacity, the probe's pace and what was not applied."""

from __future__ import annotations

import html
import io
import xml.etree.ElementTree as ET
from pathlib import Path

from runner.backends.base import Endpoints
from runner.progress import Progress
from runner.record import CapacityLevel, ConsumerCapacity, ConsumerInfo, RunRecord
from runner.reports.html import render_html
from runner.reports.junit import render_junit
from runner.reports.markdown import render_markdown
from tests.reports.factory import make_drill, make_record

URL = "http://127.0.0.1:4020/v1/draft"
NOT_SET = "mkdrill cannot set AssistSupport's variables in your consumer"


def own_consumer_record() -> RunRecord:
    capacity = ConsumerCapacity(
        drafts_per_s=17.9,
        in_flight=2,
        p50_ms=104.2,
        p95_ms=131.0,
        enriched=24,
        drafts=24,
        levels=[
            CapacityLevel(
                in_flight=2, drafts=24, seconds=1.3, drafts_per_s=17.9, enriched=24, latency=None
            )
        ],
    )
    consumer = ConsumerInfo(
        kind="url",
        target=URL,
        pin="v0.4.0 service.v3/api.v1",
        pin_from="its preflight answer",
        timeout_ms=2500,
        not_applied={"ASSISTSUPPORT_ENABLE_MEMORY_KERNEL": NOT_SET, "ask_body": "its own code"},
        capacity=capacity,
        pace={"steady": "12.5/s, 5 slots", "observe": "12.5/s, 95 slots"},
    )
    record = make_record([make_drill("degraded")], settings={"rate_hz": "25"})
    return record.model_copy(update={"consumer": consumer})


def test_summary_and_html_name_the_consumer_its_capacity_and_what_was_not_applied() -> None:
    record = own_consumer_record()
    for text in (render_markdown(record), html.unescape(render_html(record))):
        assert f"your consumer at {URL}" in text
        assert "v0.4.0 service.v3/api.v1 (its preflight answer)" in text
        assert (
            "17.9 Drafts/s (2 in flight), p50 104 ms, p95 131 ms with MemoryKernel healthy" in text
        )
        assert "steady 12.5/s, 5 slots, observe 12.5/s, 95 slots" in text
        assert "not applied: ASSISTSUPPORT_ENABLE_MEMORY_KERNEL" in text and NOT_SET in text
        # the reference consumer's ask body is never claimed for yours
        assert "its own (mkdrill cannot choose the ask body of your consumer)" in text


def test_junit_properties_name_the_consumer_and_its_capacity() -> None:
    suite = ET.fromstring(render_junit(own_consumer_record())).find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["consumer.kind"] == "url" and properties["consumer.target"] == URL
    assert properties["consumer.pin"] == "v0.4.0 service.v3/api.v1"
    assert properties["consumer.capacity.drafts_per_s"] == "17.9"
    assert properties["consumer.capacity.p95_ms"] == "131"
    assert properties["consumer.not_applied.ASSISTSUPPORT_ENABLE_MEMORY_KERNEL"] == NOT_SET


def test_the_run_header_names_your_consumer_not_the_reference_ask_body() -> None:
    out = io.StringIO()
    Progress(Path("unused"), stream=out, write_reports=False).run_started(own_consumer_record())
    line = out.getvalue()
    assert f"consumer under test your consumer at {URL}" in line and "ask body" not in line


def test_the_environment_line_names_no_reference_consumer_when_yours_is_drilled() -> None:
    def line(consumer_url: str) -> str:
        out = io.StringIO()
        endpoints = Endpoints(
            consumer_url=consumer_url, memorykernel_url="http://127.0.0.1:4111",
            toxiproxy_url="http://127.0.0.1:8474", proxy_listen="127.0.0.1:4010",
        )  # fmt: skip
        Progress(Path("unused"), stream=out, write_reports=False).environment_ready(
            endpoints, "embedded"
        )
        return out.getvalue()

    yours = line("")  # no reference consumer started: yours is probed where it runs
    assert "consumer" not in yours and "MemoryKernel via proxy at http://127.0.0.1:4010" in yours
    assert "reference consumer http://127.0.0.1:4555" in line("http://127.0.0.1:4555")
