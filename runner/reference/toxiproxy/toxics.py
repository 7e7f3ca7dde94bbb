"""Toxic definitions: the types Toxiproxy knows, their attributes, defaults and JSON shape."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from runner.reference.toxiproxy import gojson
from runner.reference.toxiproxy.errors import (
    ApiError,
    bad_request_body,
    invalid_stream,
    invalid_toxic_type,
)


class Direction(enum.IntEnum):
    """Which way a toxic acts: upstream is client to server, downstream is server to client."""

    UPSTREAM = 0
    DOWNSTREAM = 1


def parse_direction(stream: str) -> Direction:
    """Toxiproxy's stream.ParseDirection: case-insensitive, two values."""
    value = stream.lower()
    if value == "upstream":
        return Direction.UPSTREAM
    if value == "downstream":
        return Direction.DOWNSTREAM
    raise invalid_stream()


# Attribute names per toxic type, in the order Toxiproxy serialises them; every one defaults to 0.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "noop": (),
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


# The Go struct behind each type, named in Go's type errors ("LatencyToxic.attributes.latency").
GO_TYPES: dict[str, str] = {
    "noop": "NoopToxic",
    "latency": "LatencyToxic",
    "bandwidth": "BandwidthToxic",
    "slow_close": "SlowCloseToxic",
    "timeout": "TimeoutToxic",
    "reset_peer": "ResetToxic",
    "slicer": "SlicerToxic",
    "limit_data": "LimitDataToxic",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Toxic:
    """One toxic as the API shows it; replaced (never mutated) on update."""

    name: str
    type: str
    stream: str
    direction: Direction
    toxicity: float
    attributes: Mapping[str, int]

    def attribute(self, name: str) -> int:
        """One attribute value (0 when unset, as Go's zero value)."""
        return self.attributes.get(name, 0)

    def to_json(self) -> dict[str, object]:
        """The JSON object Toxiproxy returns for a toxic."""
        toxicity: float | int = self.toxicity
        if toxicity == int(toxicity):
            toxicity = int(toxicity)  # float32 1 marshals as 1 in Go
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": toxicity,
        }


def _decode_attributes(
    toxic_type: str, raw: object, defaults: Mapping[str, int], holder: str
) -> dict[str, int]:
    """Attributes decoded into the toxic's Go struct; `holder` names the struct holding them."""
    go_type = GO_TYPES[toxic_type]
    try:
        if raw is not None and not isinstance(raw, dict):
            raise gojson.BadBody(
                f"json: cannot unmarshal {gojson.json_kind(raw).split(' ')[0]} into Go struct "
                f"field {holder}.attributes of type toxics.{go_type}"
            )
        obj = raw or {}
        return {
            name: gojson.int_field(obj, name, f"{go_type}.attributes", defaults.get(name, 0))
            for name in ATTRIBUTES[toxic_type]
        }
    except gojson.BadBody as exc:
        raise bad_request_body(str(exc)) from None


def parse_new_toxic(body: bytes, existing_names: set[str]) -> Toxic:
    """A toxic from a create request, with Toxiproxy's defaults and checks in Toxiproxy's order."""
    try:
        obj = gojson.require_object(gojson.decode_first_value(body), "toxics.ToxicWrapper")
        where = "ToxicWrapper"
        name = gojson.string_field(obj, "name", where, "")
        toxic_type = gojson.string_field(obj, "type", where, "")
        stream = gojson.string_field(obj, "stream", where, "downstream")
        toxicity = gojson.float_field(obj, "toxicity", where, 1.0)
        # The first pass decodes the attributes into a noop toxic, which takes any object.
        first_pass = gojson.lookup(obj, "attributes")
        if first_pass not in (gojson.MISSING, None) and not isinstance(first_pass, dict):
            raise gojson.BadBody(
                f"json: cannot unmarshal {gojson.json_kind(first_pass).split(' ')[0]} into Go "
                "struct field ToxicWrapper.attributes of type toxics.NoopToxic"
            )
    except gojson.BadBody as exc:
        raise bad_request_body(str(exc)) from None
    direction = parse_direction(stream)
    if not name:
        name = f"{toxic_type}_{stream}"
    if toxic_type not in ATTRIBUTES:
        raise invalid_toxic_type()
    if name in existing_names:
        raise ApiError("toxic already exists", 409)
    raw_attributes = gojson.lookup(obj, "attributes")
    attributes = _decode_attributes(
        toxic_type, None if raw_attributes is gojson.MISSING else raw_attributes, {}, ""
    )
    return Toxic(name, toxic_type, stream, direction, toxicity, attributes)


def parse_toxic_update(body: bytes, current: Toxic) -> Toxic:
    """The toxic after an update request: attributes and toxicity change, the rest stays."""
    try:
        obj = gojson.require_object(gojson.decode_first_value(body), "struct")
        toxicity = gojson.float_field(obj, "toxicity", "", current.toxicity)
    except gojson.BadBody as exc:
        raise bad_request_body(str(exc)) from None
    raw_attributes = gojson.lookup(obj, "attributes")
    attributes = dict(current.attributes)
    if raw_attributes is not gojson.MISSING and raw_attributes is not None:
        attributes = _decode_attributes(current.type, raw_attributes, current.attributes, "")
    return dataclasses.replace(current, toxicity=toxicity, attributes=attributes)
