"""Numbers the verdicts rest on, shared by the assertions and the CLI's option ranges (kept light)."""

from __future__ import annotations

# Every drill asserts the probe drafted at least this often during the fault window, so no option
# may set a lower rate: a healthy drill would fail on its own probe.
MIN_RATE_HZ = 20.0
