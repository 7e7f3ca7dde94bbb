"""Request-body decoding with the failures and messages of Go's encoding/json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from runner.reference.toxiproxy.gosyntax import GoSyntaxError, first_value_end

MISSING: Final = object()


class BadBody(Exception):
    """The body could not be decoded; the message is what Go's decoder would have said."""


def decode_first_value(body: bytes) -> object:
    """The first JSON value of a body; what follows is ignored, as json.Decoder.Decode does."""
    try:
        end = first_value_end(body)
    except GoSyntaxError as exc:
        raise BadBody(str(exc)) from None
    value, _end = json.JSONDecoder().raw_decode(
        body[:end].decode("utf-8", errors="replace").strip(" \t\r\n")
    )
    return value


def json_kind(value: object) -> str:
    """The JSON kind Go names in an unmarshal error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {json.dumps(value)}" if isinstance(value, float) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def require_object(value: object, go_type: str) -> Mapping[str, object]:
    """The decoded value as an object, or Go's error for decoding another kind into a struct."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = json_kind(value).split(" ")[0]
        raise BadBody(f"json: cannot unmarshal {kind} into Go value of type {go_type}")
    return value


def lookup(obj: Mapping[str, object], name: str) -> object:
    """A field by name: exact match first, then case-insensitive, as Go matches struct tags."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if key.lower() == name:
            return value
    return MISSING


def _mismatch(value: object, where: str, go_type: str) -> BadBody:
    return BadBody(
        f"json: cannot unmarshal {json_kind(value)} into Go struct field {where} of type {go_type}"
    )


def string_field(obj: Mapping[str, object], name: str, where: str, default: str) -> str:
    """A string field; null or absent keeps the default."""
    value = lookup(obj, name)
    if value is MISSING or value is None:
        return default
    if not isinstance(value, str):
        raise _mismatch(value, f"{where}.{name}", "string")
    return value


def bool_field(obj: Mapping[str, object], name: str, where: str, default: bool) -> bool:
    """A boolean field; null or absent keeps the default."""
    value = lookup(obj, name)
    if value is MISSING or value is None:
        return default
    if not isinstance(value, bool):
        raise _mismatch(value, f"{where}.{name}", "bool")
    return value


def int_field(obj: Mapping[str, object], name: str, where: str, default: int) -> int:
    """An integer field (Go int64); a fraction, string or bool is refused as Go refuses it."""
    value = lookup(obj, name)
    if value is MISSING or value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _mismatch(value, f"{where}.{name}", "int64")
    return value


def float_field(obj: Mapping[str, object], name: str, where: str, default: float) -> float:
    """A number field (Go float32); null or absent keeps the default."""
    value = lookup(obj, name)
    if value is MISSING or value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(value, f"{where}.{name}", "float32")
    return float(value)


def encode(value: object) -> bytes:
    """Compact JSON as json.Marshal writes it (no spaces, UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
