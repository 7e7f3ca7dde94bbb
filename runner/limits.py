"""Numbers the verdicts rest on, shared by the assertions and the CLI's option ranges (kept light)."""

from __future__ import annotations

# The lowest fault-window rate one may ask for: enough Drafts for a verdict in every catalog window.
# (A drill asserts 80% of the rate the probe was paced at, which a consumer's capacity may cap.)
MIN_RATE_HZ = 20.0
