"""Request bodies decoded as axum's `Json` extractor (serde_json + serde derive) decodes them.

The real service answers a body that does not fit its request type with `invalid_json`, carrying
axum's rejection text and status: 400 for a syntax error, 422 for a body that parses but does not
fit the type (missing key, wrong type, unknown enum variant), 415 without a JSON Content-Type.
Those texts embed serde_json's message, the serde_path_to_error path and a line/column, so this
module is a small streaming JSON reader driven by the expected type, like serde's, rather than
`json.loads` followed by checks: the first error serde would meet is the one reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner.reference.memorykernel.json_reader import DeserializeError, JsonReader, describe_number
from runner.reference.memorykernel.timestamps import (
    TimestampParseError,
    UlidError,
    canonical_ulid,
    parse_rfc3339,
    to_f32,
)

BODY_LIMIT_BYTES = 2 * 1024 * 1024  # axum's DefaultBodyLimit

SYNTAX_PREFIX = "Failed to parse the request body as JSON"
DATA_PREFIX = "Failed to deserialize the JSON body into the target type"
CONTENT_TYPE_TEXT = "Expected request with `Content-Type: application/json`"
LENGTH_LIMIT_PREFIX = "Failed to buffer the request body"

_U32_MAX = 2**32 - 1


@dataclass(frozen=True)
class JsonRejection(Exception):
    """Why axum's `Json` extractor refused a body: status, `body_text()` and `to_string()`."""

    status: int
    body_text: str
    rejection: str


def missing_content_type() -> JsonRejection:
    """The 415 rejection for a body sent without a JSON Content-Type."""
    return JsonRejection(415, CONTENT_TYPE_TEXT, CONTENT_TYPE_TEXT)


def length_limit_exceeded() -> JsonRejection:
    """The 413 rejection for a body over axum's default 2 MiB limit."""
    return JsonRejection(413, f"{LENGTH_LIMIT_PREFIX}: length limit exceeded", LENGTH_LIMIT_PREFIX)


def body_read_failed(reason: str) -> JsonRejection:
    """The 400 rejection for a body the connection could not deliver (broken chunking, EOF)."""
    return JsonRejection(400, f"{LENGTH_LIMIT_PREFIX}: {reason}", LENGTH_LIMIT_PREFIX)


def is_json_content_type(value: str | None) -> bool:
    """axum's check: `application/json` or any `application/*+json`, parameters allowed."""
    if value is None:
        return False
    essence = value.split(";", 1)[0].strip().lower()
    kind, _, subtype = essence.partition("/")
    if kind != "application" or not subtype or any(c.isspace() for c in subtype):
        return False
    return subtype == "json" or subtype.endswith("+json")


# --- type descriptions --------------------------------------------------------------------------


class Kind:
    """The type a JSON value must fit; `read` consumes it from the reader."""

    # serde derive lets a plain `Option<T>` field be absent (None); everything else is required.
    optional_when_missing = False

    def read(self, reader: JsonReader) -> Any:
        raise NotImplementedError


class Str(Kind):
    """A Rust `String`."""

    def read(self, reader: JsonReader) -> str:
        return reader.read_string("a string")


class Bool(Kind):
    """A Rust `bool`."""

    def read(self, reader: JsonReader) -> bool:
        head = reader.skip_whitespace()
        if head == ord("t"):
            reader.eat()
            reader.ident(b"rue")
            return True
        if head == ord("f"):
            reader.eat()
            reader.ident(b"alse")
            return False
        raise reader.invalid_type("a boolean")


class U32(Kind):
    """A Rust `u32`."""

    def read(self, reader: JsonReader) -> int:
        head = reader.skip_whitespace()
        if head is None or not (head == ord("-") or ord("0") <= head <= ord("9")):
            raise reader.invalid_type("u32")
        number = reader.number()
        if isinstance(number, float):
            raise reader.positioned(f"invalid type: {describe_number(number)}, expected u32")
        if not 0 <= number <= _U32_MAX:
            raise reader.positioned(f"invalid value: integer `{number}`, expected u32")
        return number


class F32(Kind):
    """A Rust `f32`, returned rounded to single precision."""

    def read(self, reader: JsonReader) -> float:
        head = reader.skip_whitespace()
        if head is None or not (head == ord("-") or ord("0") <= head <= ord("9")):
            raise reader.invalid_type("f32")
        return to_f32(float(reader.number()))


class Ulid(Kind):
    """A `ulid::Ulid` (MemoryId, MemoryVersionId): a string, then `Ulid::from_string`."""

    def read(self, reader: JsonReader) -> str:
        text = reader.read_string("a string")
        try:
            return canonical_ulid(text)
        except UlidError as exc:
            # A custom error raised after the string: serde_json fixes its position later.
            raise reader.unpositioned(str(exc)) from None


class Enum(Kind):
    """A serde unit-variant enum (snake_case names)."""

    def __init__(self, variants: Sequence[str]) -> None:
        self.variants = tuple(variants)

    def read(self, reader: JsonReader) -> str:
        head = reader.skip_whitespace()
        if head is None:
            raise reader.syntax("EOF while parsing a value", peek=True, category="eof")
        if head == ord('"'):
            reader.eat()
            name = reader.string_body()
            return self._variant(reader, name)
        if head == ord("{"):
            return self._map_variant(reader)
        raise reader.syntax("expected value", peek=True)

    def _variant(self, reader: JsonReader, name: str) -> str:
        if name not in self.variants:
            raise reader.positioned(f"unknown variant `{name}`, expected {_one_of(self.variants)}")
        return name

    def _map_variant(self, reader: JsonReader) -> str:
        # `{"deny": null}` is serde_json's externally tagged form of a unit variant.
        reader.enter()
        reader.eat()
        if reader.skip_whitespace() != ord('"'):
            raise reader.syntax("key must be a string", peek=True)
        reader.eat()
        name = self._variant(reader, reader.string_body())
        reader.colon()
        if reader.skip_whitespace() == ord("n"):
            reader.eat()
            reader.ident(b"ull")
        else:
            raise reader.invalid_type("unit variant")
        head = reader.skip_whitespace()
        if head is None:
            raise reader.syntax("EOF while parsing an object", peek=True, category="eof")
        if head != ord("}"):
            raise reader.syntax("expected `,` or `}`", peek=True)
        reader.eat()
        reader.leave()
        return name


class Optional(Kind):
    """A plain `Option<T>`: `null` is None, and the key may be left out."""

    optional_when_missing = True

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def read(self, reader: JsonReader) -> Any:
        if reader.skip_whitespace() == ord("n"):
            reader.eat()
            reader.ident(b"ull")
            return None
        return self.inner.read(reader)


class OptionalRfc3339(Kind):
    """`Option<OffsetDateTime>` with `time::serde::rfc3339::option`: null allowed, key required."""

    def read(self, reader: JsonReader) -> Any:
        if reader.skip_whitespace() == ord("n"):
            reader.eat()
            reader.ident(b"ull")
            return None
        text = reader.read_string("an RFC3339-formatted `OffsetDateTime`")
        try:
            return parse_rfc3339(text)
        except TimestampParseError as exc:
            raise reader.positioned(str(exc)) from None


class Vec(Kind):
    """A `Vec<T>`."""

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def read(self, reader: JsonReader) -> list[Any]:
        head = reader.skip_whitespace()
        if head != ord("["):
            raise reader.invalid_type("a sequence")
        reader.enter()
        reader.eat()
        items: list[Any] = []
        try:
            while reader.has_next_element(first=not items):
                reader.path.append(f"[{len(items)}]")
                try:
                    items.append(self.inner.read(reader))
                finally:
                    reader.path.pop()
        except DeserializeError as exc:
            reader.end_seq_quietly()
            raise reader.fixed(exc) from None
        reader.end_seq()
        reader.leave()
        return items


@dataclass(frozen=True)
class Field:
    """One struct field: its JSON key and type."""

    name: str
    kind: Kind


class Struct(Kind):
    """A serde-derived struct without `deny_unknown_fields`: accepts a map or a sequence."""

    def __init__(self, name: str, fields: Sequence[Field]) -> None:
        self.name = name
        self.fields = tuple(fields)
        self._by_name = {field.name: field for field in self.fields}

    def read(self, reader: JsonReader) -> dict[str, Any]:
        head = reader.skip_whitespace()
        if head is None:
            raise reader.syntax("EOF while parsing a value", peek=True, category="eof")
        if head == ord("{"):
            return self._read_map(reader)
        if head == ord("["):
            return self._read_seq(reader)
        raise reader.invalid_type(f"struct {self.name}")

    def _read_map(self, reader: JsonReader) -> dict[str, Any]:
        reader.enter()
        reader.eat()
        values: dict[str, Any] = {}
        try:
            first = True
            while (key := reader.next_key(first)) is not None:
                first = False
                field = self._by_name.get(key)
                if field is not None and field.name in values:
                    raise reader.unpositioned(f"duplicate field `{key}`")
                # serde_json reads the colon before the value (and serde_path_to_error only then
                # enters the key), so a missing colon is reported without the key's path.
                reader.colon()
                reader.path.append(key)
                try:
                    if field is None:
                        reader.ignore_value()
                    else:
                        values[field.name] = field.kind.read(reader)
                finally:
                    reader.path.pop()
            for field in self.fields:
                if field.name not in values:
                    if not field.kind.optional_when_missing:
                        raise reader.unpositioned(f"missing field `{field.name}`")
                    values[field.name] = None
        except DeserializeError as exc:
            reader.end_map_quietly()
            raise reader.fixed(exc) from None
        reader.end_map_quietly()
        reader.leave()
        return values

    def _read_seq(self, reader: JsonReader) -> dict[str, Any]:
        reader.enter()
        reader.eat()
        values: dict[str, Any] = {}
        count = len(self.fields)
        plural = "element" if count == 1 else "elements"
        try:
            for index, field in enumerate(self.fields):
                if not reader.has_next_element(first=index == 0):
                    raise reader.unpositioned(
                        f"invalid length {index}, expected struct {self.name} with {count} {plural}"
                    )
                reader.path.append(f"[{index}]")
                try:
                    values[field.name] = field.kind.read(reader)
                finally:
                    reader.path.pop()
        except DeserializeError as exc:
            reader.end_seq_quietly()
            raise reader.fixed(exc) from None
        reader.end_seq()
        reader.leave()
        return values


# --- entry point ----------------------------------------------------------------------------------


def decode_body(data: bytes, kind: Struct) -> dict[str, Any]:
    """Decode `data` into `kind`'s fields, or raise the JsonRejection axum would produce."""
    reader = JsonReader(data)
    try:
        return kind.read(reader)
    except DeserializeError as exc:
        raise _rejection(exc, data) from None


def _rejection(error: DeserializeError, data: bytes) -> JsonRejection:
    index = len(data) if error.index is None else error.index
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1)
    prefix = _path_text(error.path)
    message = f"{prefix}{error.message} at line {line} column {column}"
    if error.category == "data":
        return JsonRejection(422, f"{DATA_PREFIX}: {message}", DATA_PREFIX)
    return JsonRejection(400, f"{SYNTAX_PREFIX}: {message}", SYNTAX_PREFIX)


def _path_text(path: tuple[str, ...]) -> str:
    if not path:
        return ""
    text = ""
    for segment in path:
        if segment.startswith("["):
            text += segment
        else:
            text += ("." if text else "") + segment
    return f"{text}: "


def _one_of(variants: Sequence[str]) -> str:
    quoted = [f"`{name}`" for name in variants]
    if not quoted:
        return "there are no variants"
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)
