"""Every report names each MemoryKernel that ran, with its contract and digest, as report.json does."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from runner.record import MemoryKernelIdentity, RunRecord
from runner.reports.html import render_html
from runner.reports.junit import render_junit
from runner.reports.markdown import render_markdown
from tests.reports.factory import make_drill, make_record

BINARY_DIGEST = "sha256:5095dc476f3caa3c0e0cb70697382612d89166ef211b90e14b251ca0237e3bf3"
IMAGE_ID = "sha256:2dae869761f6aa3c0e0cb70697382612d89166ef211b90e14b251ca0237e3bf3"


def record() -> RunRecord:
    return make_record(
        [make_drill("degraded")],
        memorykernel={
            "v0.4.0": MemoryKernelIdentity(
                release="v0.4.0",
                kind="binary",
                name="/opt/mk/memory-kernel-service",
                digest=BINARY_DIGEST,
                service_contract_version="service.v3",
            ),
            "v0.3.2": MemoryKernelIdentity(
                release="v0.3.2",
                kind="image",
                name="registry.example/memorykernel:v0.3.2",
                digest=IMAGE_ID,
                service_contract_version=None,
            ),
        },
    )


def test_summary_and_html_name_each_memorykernel() -> None:
    for text in (render_markdown(record()), render_html(record())):
        assert "memorykernel v0.4.0" in text and "memorykernel v0.3.2" in text
        assert "binary /opt/mk/memory-kernel-service (service.v3)" in text and BINARY_DIGEST in text
        assert "image registry.example/memorykernel:v0.3.2 (health never asked)" in text
        assert IMAGE_ID in text


def test_junit_properties_name_each_memorykernel() -> None:
    suite = ET.fromstring(render_junit(record())).find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["memorykernel.v0.4.0.kind"] == "binary"
    assert properties["memorykernel.v0.4.0.name"] == "/opt/mk/memory-kernel-service"
    assert properties["memorykernel.v0.4.0.digest"] == BINARY_DIGEST
    assert properties["memorykernel.v0.4.0.service_contract_version"] == "service.v3"
    assert properties["memorykernel.v0.3.2.name"] == "registry.example/memorykernel:v0.3.2"
    assert properties["memorykernel.v0.3.2.digest"] == IMAGE_ID
    assert properties["memorykernel.v0.3.2.service_contract_version"] == ""
