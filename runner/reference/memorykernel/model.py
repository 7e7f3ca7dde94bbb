"""MemoryKernel's memory record (memory-kernel-core): fields, invariants, JSON shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.reference.memorykernel.timestamps import Timestamp, new_ulid

TRUTH_STATUS_RANK = {"observed": 5, "asserted": 4, "inferred": 3, "speculative": 2, "retracted": 1}
AUTHORITY_RANK = {"authoritative": 3, "derived": 2, "note": 1}


class KernelError(Exception):
    """A domain error; the text follows memory-kernel-core's `KernelError` display."""


class ValidationFailed(KernelError):
    """A record broke an invariant (`validation error: …`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"validation error: {reason}")


class QueryFailed(KernelError):
    """A query could not be built (`query error: …`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"query error: {reason}")


@dataclass(frozen=True)
class MemoryRecord:
    """One immutable memory version. `payload` is the record type's payload object."""

    memory_version_id: str
    memory_id: str
    version: int
    created_at: Timestamp
    effective_at: Timestamp
    truth_status: str
    authority: str
    confidence: float | None
    writer: str
    justification: str
    source_uri: str
    source_hash: str | None
    evidence: tuple[str, ...]
    supersedes: tuple[str, ...]
    contradicts: tuple[str, ...]
    record_type: str
    payload: dict[str, Any]

    def validate(self) -> None:
        """Foundation invariants, in memory-kernel-core's order and wording."""
        if self.version == 0:
            raise ValidationFailed("version MUST be >= 1 for append-only lineage")
        if not self.writer.strip():
            raise ValidationFailed("writer MUST be provided for every write")
        if not self.justification.strip():
            raise ValidationFailed("justification MUST be provided for every write")
        if not self.source_uri.strip():
            raise ValidationFailed("source_uri MUST be provided")
        if self.source_hash is not None and (
            not self.source_hash.startswith("sha256:") or len(self.source_hash) <= 7
        ):
            raise ValidationFailed("source_hash MUST be formatted as sha256:<hex>")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValidationFailed("confidence MUST be in [0.0, 1.0]")
        if self.truth_status in ("inferred", "speculative") and self.confidence is None:
            raise ValidationFailed("confidence MUST be provided for inferred/speculative records")
        if self.record_type == "constraint":
            scope = self.payload["scope"]
            if any(not str(scope[key]).strip() for key in ("actor", "action", "resource")):
                raise ValidationFailed("constraint scope fields MUST be non-empty")

    @property
    def effect(self) -> str | None:
        """`allow`/`deny` for a constraint, None for summaries."""
        return self.payload.get("effect") if self.record_type == "constraint" else None

    def to_json(self) -> dict[str, Any]:
        """The record as the service serializes it (adjacently tagged payload)."""
        return {
            "memory_version_id": self.memory_version_id,
            "memory_id": self.memory_id,
            "version": self.version,
            "created_at": self.created_at.rfc3339(),
            "effective_at": self.effective_at.rfc3339(),
            "truth_status": self.truth_status,
            "authority": self.authority,
            "confidence": self.confidence,
            "writer": self.writer,
            "justification": self.justification,
            "provenance": {
                "source_uri": self.source_uri,
                "source_hash": self.source_hash,
                "evidence": list(self.evidence),
            },
            "supersedes": list(self.supersedes),
            "contradicts": list(self.contradicts),
            "payload": {"record_type": self.record_type, "payload": self.payload},
        }


def record_from_request(
    request: dict[str, Any], record_type: str, payload: dict[str, Any]
) -> MemoryRecord:
    """Build a new version from an add request, defaulting ids and timestamps like the API does."""
    created_at: Timestamp = request["created_at"] or Timestamp.now()
    effective_at: Timestamp = request["effective_at"] or created_at
    return MemoryRecord(
        memory_version_id=new_ulid(),
        memory_id=request["memory_id"] or new_ulid(),
        version=request["version"],
        created_at=created_at,
        effective_at=effective_at,
        truth_status=request["truth_status"],
        authority=request["authority"],
        confidence=request["confidence"],
        writer=request["writer"],
        justification=request["justification"],
        source_uri=request["source_uri"],
        source_hash=request["source_hash"],
        evidence=tuple(request["evidence"]),
        supersedes=tuple(request["supersedes"]),
        contradicts=tuple(request["contradicts"]),
        record_type=record_type,
        payload=payload,
    )


def constraint_from_request(request: dict[str, Any]) -> MemoryRecord:
    """`build_constraint_record`: scope, effect and note become the constraint payload."""
    payload = {
        "scope": {
            "actor": request["actor"],
            "action": request["action"],
            "resource": request["resource"],
        },
        "effect": request["effect"],
        "note": request["note"],
    }
    return record_from_request(request, "constraint", payload)


def summary_from_request(request: dict[str, Any]) -> MemoryRecord:
    """`build_summary_record`: a summary payload; constraints are refused (a plain API error)."""
    if request["record_type"] == "constraint":
        raise KernelError("add_summary does not support record_type=constraint")
    return record_from_request(request, request["record_type"], {"summary": request["summary"]})
