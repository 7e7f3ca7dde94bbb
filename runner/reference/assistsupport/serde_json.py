"""JSON decoding with serde_json + serde derive acceptance rules, as AssistSupport reads bodies.

Where Python's `json` and serde disagree on what the adapter's structs accept, serde wins:
- `NaN`/`Infinity` are not JSON;
- a struct may also be written as an array of exactly its fields, in declaration order;
- a struct field given twice is an error ("duplicate field"); unknown keys are ignored;
- `Option<T>` fields may be missing or null; every other field is required, `serde_json::Value`
  included (a missing `data` is an error, `"data": null` is fine).
"""

from __future__ import annotations

import json
from typing import Any

# Rust's `char::is_whitespace` (Unicode White_Space). Python's `str.strip()` also strips
# U+001C..U+001F, which Rust's `trim()` keeps.
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class NotDeserializable(ValueError):
    """The body does not deserialize into the adapter's struct."""


class JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers which keys appeared more than once."""

    duplicates: frozenset[str] = frozenset()


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj = JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                repeated.add(key)
            seen.add(key)
        obj.duplicates = frozenset(repeated)
    return obj


def _reject_constant(name: str) -> Any:
    raise NotDeserializable(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_reject_constant)


def rust_trim(text: str) -> str:
    """`str::trim()` in Rust."""
    return text.strip(RUST_WHITESPACE)


def ascii_lower(text: str) -> str:
    """`str::to_ascii_lowercase()` in Rust: non-ASCII letters are left alone."""
    return text.translate(_ASCII_LOWER)


def parse(text: str) -> Any:
    """`serde_json::from_str::<Value>`: raises NotDeserializable when the text is not JSON."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise NotDeserializable(str(exc)) from exc


def struct_fields(value: Any, fields: tuple[tuple[str, bool], ...]) -> dict[str, Any]:
    """Read a serde-derived struct from a decoded value.

    `fields` are (name, required) in declaration order. Returns name -> value for present,
    non-null fields (Option fields that are missing or null are left out). Raises
    NotDeserializable on a missing required field, a duplicate field, or a wrong container.
    """
    if isinstance(value, dict):
        duplicates = value.duplicates if isinstance(value, JsonObject) else frozenset()
        out: dict[str, Any] = {}
        for name, required in fields:
            if name in duplicates:
                raise NotDeserializable(f"duplicate field `{name}`")
            if name not in value:
                if required:
                    raise NotDeserializable(f"missing field `{name}`")
                continue
            if value[name] is None and not required:
                continue
            out[name] = value[name]
        return out
    if isinstance(value, list):
        if len(value) != len(fields):
            raise NotDeserializable(f"invalid length {len(value)}, expected {len(fields)}")
        return {
            name: item
            for (name, required), item in zip(fields, value, strict=True)
            if required or item is not None
        }
    raise NotDeserializable(f"invalid type: expected a struct, got {type(value).__name__}")


def require_str(fields: dict[str, Any], name: str) -> str:
    """A `String` field: only a JSON string deserializes."""
    value = fields.get(name)
    if not isinstance(value, str):
        raise NotDeserializable(f"invalid type for `{name}`: expected a string")
    return value


def optional_str(fields: dict[str, Any], name: str) -> str | None:
    """An `Option<String>` field: missing or null is None, a string is itself, else an error."""
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise NotDeserializable(f"invalid type for `{name}`: expected a string or null")


def pointer(value: Any, path: str) -> Any:
    """`serde_json::Value::pointer`: RFC 6901 lookup through objects and arrays, or None."""
    if path == "":
        return value
    if not path.startswith("/"):
        return None
    target = value
    for raw in path[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict):
            if token not in target:
                return None
            target = target[token]
        elif isinstance(target, list):
            # serde_json parses the token as usize; a leading "+" or a leading zero is not an index.
            if (
                not token.isascii()
                or not token.isdigit()
                or (token.startswith("0") and token != "0")
            ):
                return None
            index = int(token)
            if index >= len(target):
                return None
            target = target[index]
        else:
            return None
    return target


def get(value: Any, key: str) -> Any:
    """`serde_json::Value::get(&str)`: only objects have keys."""
    if isinstance(value, dict):
        return value.get(key)
    return None
