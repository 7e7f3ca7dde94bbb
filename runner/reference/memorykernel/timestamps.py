"""Timestamps, ULIDs and f32 numbers rendered the way MemoryKernel's Rust crates render them."""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_NANOS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Crockford base32, as the `ulid` crate encodes and decodes it.
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_LOOKUP = {ch: i for i, ch in enumerate(_ULID_ALPHABET)} | {
    ch.lower(): i for i, ch in enumerate(_ULID_ALPHABET)
}
_ULID_LENGTH = 26
_U128_MASK = (1 << 128) - 1

_F32_MAX = 3.4028234663852886e38


class TimestampParseError(ValueError):
    """An RFC3339 string the `time` crate would refuse; the text is the crate's own wording."""


@dataclass(frozen=True)
class Timestamp:
    """An instant with nanosecond precision and the UTC offset it was written with.

    Mirrors `time::OffsetDateTime`: formatting keeps the offset, so a value read as `+02:00` is
    written back as `+02:00`; order by `unix_nanos` to compare instants.
    """

    unix_nanos: int
    offset_seconds: int = 0

    @classmethod
    def now(cls) -> Timestamp:
        """The current instant in UTC, like `OffsetDateTime::now_utc()`."""
        return cls(time.time_ns(), 0)

    @property
    def unix_seconds(self) -> int:
        """Whole seconds since the epoch, rounded towards negative infinity (`unix_timestamp`)."""
        return self.unix_nanos // _NANOS_PER_SECOND

    def rfc3339(self) -> str:
        """Format as `time`'s `Rfc3339`: a fraction only when non-zero, trailing zeros trimmed."""
        local_nanos = self.unix_nanos + self.offset_seconds * _NANOS_PER_SECOND
        seconds, nanos = divmod(local_nanos, _NANOS_PER_SECOND)
        moment = _EPOCH + timedelta(seconds=seconds)
        text = (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        )
        if nanos:
            text += "." + f"{nanos:09d}".rstrip("0")
        if self.offset_seconds == 0:
            return text + "Z"
        sign = "+" if self.offset_seconds > 0 else "-"
        hours, minutes = divmod(abs(self.offset_seconds) // 60, 60)
        return f"{text}{sign}{hours:02d}:{minutes:02d}"


def parse_rfc3339(text: str) -> Timestamp:
    """Parse an RFC3339 timestamp, failing with the `time` crate's messages."""
    cursor = _Cursor(text)
    year = cursor.digits(4, "year")
    cursor.literal("-")
    month = cursor.digits(2, "month", 1, 12)
    cursor.literal("-")
    day = cursor.digits(2, "day", 1, _DAYS_IN_MONTH[month - 1])
    if month == 2 and day == 29 and not _is_leap(year):
        raise TimestampParseError("the 'day' component could not be parsed")
    cursor.literal("T", "t")
    hour = cursor.digits(2, "hour", 0, 23)
    cursor.literal(":")
    minute = cursor.digits(2, "minute", 0, 59)
    cursor.literal(":")
    second = cursor.digits(2, "second", 0, 59)
    nanos = 0
    if cursor.peek() == ".":
        cursor.advance()
        fraction = cursor.run_of_digits()
        if not fraction:
            raise TimestampParseError("the 'subsecond' component could not be parsed")
        nanos = int(fraction[:9].ljust(9, "0"))
    offset = 0
    marker = cursor.peek()
    if marker in ("Z", "z"):
        cursor.advance()
    elif marker in ("+", "-"):
        cursor.advance()
        offset_hour = cursor.digits(2, "offset hour", 0, 23)
        cursor.literal(":")
        offset_minute = cursor.digits(2, "offset minute", 0, 59)
        offset = (offset_hour * 3600 + offset_minute * 60) * (1 if marker == "+" else -1)
    else:
        raise TimestampParseError("the 'offset hour' component could not be parsed")
    if cursor.remaining():
        raise TimestampParseError("unexpected trailing characters; the end of input was expected")
    local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    local_seconds = int((local - _EPOCH).total_seconds())
    return Timestamp((local_seconds - offset) * _NANOS_PER_SECOND + nanos, offset)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class _Cursor:
    """Left-to-right reader over a timestamp string."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._at = 0

    def peek(self) -> str:
        return self._text[self._at : self._at + 1]

    def advance(self) -> None:
        self._at += 1

    def remaining(self) -> bool:
        return self._at < len(self._text)

    def literal(self, *accepted: str) -> None:
        if self.peek() not in accepted or not self.peek():
            raise TimestampParseError("a character literal was not valid")
        self._at += 1

    def run_of_digits(self) -> str:
        start = self._at
        while self.peek().isascii() and self.peek().isdigit():
            self._at += 1
        return self._text[start : self._at]

    def digits(self, count: int, component: str, low: int = 0, high: int = 9999) -> int:
        chunk = self._text[self._at : self._at + count]
        if len(chunk) != count or not (chunk.isascii() and chunk.isdigit()):
            raise TimestampParseError(f"the '{component}' component could not be parsed")
        value = int(chunk)
        if not low <= value <= high:
            raise TimestampParseError(f"the '{component}' component could not be parsed")
        self._at += count
        return value


class UlidError(ValueError):
    """A string the `ulid` crate refuses; the text is the crate's own (`invalid length`, …)."""


def new_ulid() -> str:
    """A fresh ULID: 48-bit millisecond timestamp and 80 random bits, canonical upper case."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return _encode_ulid(value)


def canonical_ulid(text: str) -> str:
    """Decode and re-encode a ULID, as `Ulid::from_string` followed by `Display` would."""
    if len(text.encode("utf-8")) != _ULID_LENGTH:
        raise UlidError("invalid length")
    value = 0
    for ch in text:
        digit = _ULID_LOOKUP.get(ch)
        if digit is None:
            raise UlidError("invalid character")
        # The crate shifts a u128 without an overflow check, so excess high bits fall away.
        value = ((value << 5) | digit) & _U128_MASK
    return _encode_ulid(value)


def _encode_ulid(value: int) -> str:
    chars = []
    for _ in range(_ULID_LENGTH):
        chars.append(_ULID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def to_f32(value: float) -> float:
    """Round to the nearest f32 and return the float whose repr is Rust's shortest f32 text.

    Values beyond the f32 range become infinities, as Rust's `as f32` makes them.
    """
    if value != value:
        return value
    if abs(value) > _F32_MAX:
        return float("inf") if value > 0 else float("-inf")
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")
    for digits in range(1, 10):
        candidate = float(f"{single:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", candidate))[0] == single:
            return candidate
    return float(single)
