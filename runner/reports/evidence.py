"""report.json: the run record as JSON plus the conveniences the CLI contract fixes."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from runner.record import RunRecord, Verdict
from runner.reports.metrics import fault_p95_latency_ms

# Keys added to the record's JSON; readers strip them before validating against the record model.
DRILL_CONVENIENCE_KEYS = ("time_to_restore_s", "fault_p95_latency_ms")
RUN_CONVENIENCE_KEYS = ("counts",)
_encode = json.JSONEncoder(ensure_ascii=False).encode
# Stands in for a drill's samples while the rest is indented; "\u0000" cannot occur in a real one.
_TOKEN = "\u0000samples-"
_TOKEN_PATTERN = re.compile(r'"\\u0000samples-(\d+)"')


def build_evidence(record: RunRecord) -> dict[str, Any]:
    """`record.model_dump(mode="json")` with per-drill `time_to_restore_s` and run-level counts."""
    data = record.model_dump(mode="json")
    for drill, drill_data in zip(record.drills, data["drills"], strict=True):
        drill_data["time_to_restore_s"] = drill.time_to_restore_s
        drill_data["fault_p95_latency_ms"] = fault_p95_latency_ms(drill)
    counts = Counter(drill.verdict.value for drill in record.drills)
    data["counts"] = {verdict.value: counts.get(verdict.value, 0) for verdict in Verdict}
    return data


def strip_conveniences(data: dict[str, Any]) -> dict[str, Any]:
    """The record part of a report.json object (a shallow copy without the added keys)."""
    record = {k: v for k, v in data.items() if k not in RUN_CONVENIENCE_KEYS}
    drills = record.get("drills")
    if isinstance(drills, list):
        record["drills"] = [
            {k: v for k, v in d.items() if k not in DRILL_CONVENIENCE_KEYS}
            if isinstance(d, dict)
            else d
            for d in drills
        ]
    return record


def render_evidence(data: dict[str, Any]) -> str:
    """The report.json text: indented, with each sample on one compact line.

    Indenting thousands of samples would go through json's pure-Python encoder and dominate the
    cost of rewriting reports after every drill; compact samples use the C encoder.
    """
    samples_text: list[str] = []
    shell = dict(data)
    drills = data.get("drills")
    if isinstance(drills, list):
        shell["drills"] = []
        for drill in drills:
            samples = drill.get("samples") if isinstance(drill, dict) else None
            if not isinstance(samples, list) or not samples:
                shell["drills"].append(drill)
                continue
            lines = ",\n        ".join(map(_encode, samples))
            shell["drills"].append({**drill, "samples": f"{_TOKEN}{len(samples_text)}"})
            samples_text.append(f"[\n        {lines}\n      ]")
    text = json.dumps(shell, indent=2, ensure_ascii=False)
    text = _TOKEN_PATTERN.sub(lambda match: samples_text[int(match.group(1))], text)
    return text + "\n"
