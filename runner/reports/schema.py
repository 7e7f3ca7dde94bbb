"""The JSON Schema of report.json, built from the record model and shipped in runner/data."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from runner.record import REPORT_SCHEMA_VERSION, RunRecord

SCHEMA_RESOURCE = "data/report.schema.json"
SCHEMA_ID = "urn:mkdrill:report-schema"
_NULLABLE_NUMBER: dict[str, Any] = {"anyOf": [{"type": "number"}, {"type": "null"}]}


def build_report_schema() -> dict[str, Any]:
    """The schema report.json must satisfy: the record model plus the added convenience keys."""
    schema = copy.deepcopy(RunRecord.model_json_schema(mode="serialization"))
    major = REPORT_SCHEMA_VERSION.split(".")[0]
    schema["properties"]["schema_version"] = {
        "type": "string",
        "pattern": rf"^{major}\.[0-9]+$",
        "description": "major.minor of this schema; readers accept any minor of their major",
    }
    schema["properties"]["counts"] = {
        "type": "object",
        "description": "number of drills per verdict",
        "additionalProperties": {"type": "integer", "minimum": 0},
    }
    schema["required"] = sorted({*schema["required"], "schema_version", "counts"})

    drill = schema["$defs"]["DrillResult"]
    drill["properties"]["time_to_restore_s"] = {
        **_NULLABLE_NUMBER,
        "description": "seconds from restore start to the first enriched Draft; null if unmeasured",
    }
    drill["properties"]["fault_p95_latency_ms"] = {
        **_NULLABLE_NUMBER,
        "description": "p95 Draft latency while the fault was on; null if nothing was sampled",
    }
    drill["required"] = [*drill["required"], "time_to_restore_s", "fault_p95_latency_ms"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **{k: v for k, v in schema.items() if k != "title"},
        "title": "mkdrill run report (report.json)",
    }


def load_report_schema() -> dict[str, Any]:
    """The schema shipped with the package."""
    text = resources.files("runner").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write_report_schema(path: Path | None = None) -> Path:
    """Regenerate the shipped schema file after the record model changed; return its path."""
    target = path or Path(__file__).resolve().parent.parent / SCHEMA_RESOURCE
    target.write_text(json.dumps(build_report_schema(), indent=2) + "\n", encoding="utf-8")
    return target
