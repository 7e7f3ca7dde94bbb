"""The rules of AssistSupport's adapter a consumer defect can switch: all on, as shipped, by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorCodeSource = Literal["error.code", "legacy_error"]


@dataclass(frozen=True)
class AdapterRules:
    """What `memory_kernel.rs` checks; each field is one rule a defect breaks (consumers.defects)."""

    check_versions: bool = True  # envelope versions equal the pin's (health, schema, ask)
    check_health_status: bool = True  # health data.status must be "ok", else degraded
    error_code_from: ErrorCodeSource = "error.code"  # where a non-2xx's machine code is read


AS_SHIPPED = AdapterRules()
