"""The request types of MemoryKernel's HTTP API (memory-kernel-api), as serde would read them."""

from __future__ import annotations

from runner.reference.memorykernel.json_body import (
    F32,
    U32,
    Bool,
    Enum,
    Field,
    Optional,
    OptionalRfc3339,
    Str,
    Struct,
    Ulid,
    Vec,
)

RECORD_TYPES = ("constraint", "decision", "preference", "event", "outcome")
SUMMARY_RECORD_TYPES = ("decision", "preference", "event", "outcome")
TRUTH_STATUSES = ("asserted", "observed", "inferred", "speculative", "retracted")
AUTHORITIES = ("authoritative", "derived", "note")
EFFECTS = ("allow", "deny")
LINK_TYPES = ("supersedes", "contradicts")

# Fields every write request shares, in declaration order (serde reports the first one missing).
_WRITE_FIELDS = (
    Field("memory_id", Optional(Ulid())),
    Field("version", U32()),
    Field("writer", Str()),
    Field("justification", Str()),
    Field("source_uri", Str()),
    Field("source_hash", Optional(Str())),
    Field("evidence", Vec(Str())),
    Field("confidence", Optional(F32())),
    Field("truth_status", Enum(TRUTH_STATUSES)),
    Field("authority", Enum(AUTHORITIES)),
    Field("created_at", OptionalRfc3339()),
    Field("effective_at", OptionalRfc3339()),
    Field("supersedes", Vec(Ulid())),
    Field("contradicts", Vec(Ulid())),
)

MIGRATE_REQUEST = Struct("MigrateRequest", [Field("dry_run", Bool())])

ADD_CONSTRAINT_REQUEST = Struct(
    "AddConstraintRequest",
    [
        Field("actor", Str()),
        Field("action", Str()),
        Field("resource", Str()),
        Field("effect", Enum(EFFECTS)),
        Field("note", Optional(Str())),
        *_WRITE_FIELDS,
    ],
)

ADD_SUMMARY_REQUEST = Struct(
    "AddSummaryRequest",
    [Field("record_type", Enum(RECORD_TYPES)), Field("summary", Str()), *_WRITE_FIELDS],
)

ADD_LINK_REQUEST = Struct(
    "AddLinkRequest",
    [
        Field("from", Ulid()),
        Field("to", Ulid()),
        Field("relation", Enum(LINK_TYPES)),
        Field("writer", Str()),
        Field("justification", Str()),
    ],
)

ASK_REQUEST = Struct(
    "AskRequest",
    [
        Field("text", Str()),
        Field("actor", Str()),
        Field("action", Str()),
        Field("resource", Str()),
        Field("as_of", OptionalRfc3339()),
    ],
)

RECALL_REQUEST = Struct(
    "RecallRequest",
    [
        Field("text", Str()),
        Field("record_types", Vec(Enum(RECORD_TYPES))),
        Field("as_of", OptionalRfc3339()),
    ],
)
