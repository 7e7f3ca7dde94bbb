"""Drill durations written relative to the consumer timeout: `timeout + 300ms`, `2 * timeout + 1s`.

A drill whose fault or window depends on the consumer's per-request timeout says so in the file, so
one catalog holds for every timeout (AssistSupport's pin says 2500 ms, a fast profile 500 ms):

    fault: {kind: latency, latency_ms: timeout + 300ms}
    window_s: 2 * timeout + 1s

An expression is a sum of terms, each `timeout`, `K * timeout`, `timeout / D` or a constant with its
unit (`300ms`, `1.5s`), joined by `+` or `-`; at least one term names `timeout`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

_TIMEOUT_TERM = re.compile(
    r"(?:(?P<k>\d+(?:\.\d+)?)\s*[*×]\s*)?timeout(?:\s*/\s*(?P<d>\d+(?:\.\d+)?))?"
)
_CONSTANT_TERM = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)")
_SPLIT = re.compile(r"\s*([+-])\s*")
HINT = "write a number, or an expression such as `timeout + 300ms` or `2 * timeout + 1s`"


@dataclass(frozen=True)
class TimeoutRelative:
    """`coefficient × timeout + offset_ms`, parsed from the text a drill file holds."""

    text: str
    coefficient: float
    offset_ms: float

    def ms(self, timeout_ms: float) -> float:
        """The value in milliseconds for a consumer timeout of `timeout_ms`."""
        return self.coefficient * timeout_ms + self.offset_ms


def parse_relative(text: str) -> TimeoutRelative:
    """Parse an expression; ValueError (with the fix) when it is not one."""
    parts = _SPLIT.split(text.strip())
    # [sign, term, sign, term, ...]; the first term's sign is "+" unless written.
    parts = parts[1:] if parts and parts[0] == "" else ["+", *parts]
    coefficient = offset = 0.0
    names_timeout = False
    for sign, term in zip(parts[::2], parts[1::2], strict=False):
        factor = -1.0 if sign == "-" else 1.0
        if match := _TIMEOUT_TERM.fullmatch(term):
            divisor = float(match["d"]) if match["d"] else 1.0
            if divisor == 0:
                raise ValueError(f"{text!r}: division by zero; {HINT}")
            coefficient += factor * (float(match["k"]) if match["k"] else 1.0) / divisor
            names_timeout = True
        elif match := _CONSTANT_TERM.fullmatch(term):
            scale = 1000.0 if match["unit"] == "s" else 1.0
            offset += factor * float(match["n"]) * scale
        else:
            raise ValueError(f"{text!r}: cannot read {term!r}; {HINT}")
    if len(parts) % 2 or not names_timeout:
        raise ValueError(f"{text!r} is not relative to the consumer timeout; {HINT}")
    return TimeoutRelative(text.strip(), coefficient, offset)


def check_relative(text: str) -> str:
    """Pydantic validator: keep the text when it parses."""
    parse_relative(text)
    return text


def number_or_relative(
    kind: type[int] | type[float],
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Callable[[object], int | float | str]:
    """A validator for a drill field holding a number within bounds, or a timeout expression.

    One validator for both, so a bad value gets one message, not one per member of a union.
    """

    def validate(value: object) -> int | float | str:
        if isinstance(value, str):
            return check_relative(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(
                f"must be a number, or relative to the timeout (got {value!r}); {HINT}"
            )
        if kind is int and not float(value).is_integer():
            raise ValueError(f"must be a whole number (got {value!r})")
        if gt is not None and not value > gt:
            raise ValueError(f"must be greater than {gt:g} (got {value!r})")
        if ge is not None and not value >= ge:
            raise ValueError(f"must be greater than or equal to {ge:g} (got {value!r})")
        if le is not None and not value <= le:
            raise ValueError(f"must be less than or equal to {le:g} (got {value!r})")
        return kind(value)

    return validate
