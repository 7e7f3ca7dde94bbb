"""Deterministic ask and recall ordering: memory-kernel-core `ordering.v1`, `recall-ordering.v1`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from runner.reference.memorykernel.model import (
    AUTHORITY_RANK,
    TRUTH_STATUS_RANK,
    MemoryRecord,
    QueryFailed,
)
from runner.reference.memorykernel.requests import SUMMARY_RECORD_TYPES
from runner.reference.memorykernel.timestamps import Timestamp, to_f32

DEFAULT_CONFIDENCE = 0.5

POLICY_TIE_BREAKERS = (
    "scope_specificity desc",
    "authority_rank desc",
    "truth_status_rank desc",
    "confidence desc",
    "effective_at desc",
    "created_at desc",
    "memory_id asc",
    "memory_version_id asc",
)
RECALL_TIE_BREAKERS = ("lexical_match_count desc", *POLICY_TIE_BREAKERS[1:])


@dataclass(frozen=True)
class Query:
    """The normalized query echoed in every context package."""

    text: str
    actor: str
    action: str
    resource: str
    as_of: Timestamp

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "as_of": self.as_of.rfc3339(),
        }


@dataclass(frozen=True)
class _Candidate:
    record: MemoryRecord
    score: int  # scope specificity (ask) or matched term count (recall)
    confidence: float

    def sort_key(self) -> tuple[Any, ...]:
        record = self.record
        return (
            -self.score,
            -AUTHORITY_RANK[record.authority],
            -TRUTH_STATUS_RANK[record.truth_status],
            -self.confidence,
            -record.effective_at.unix_nanos,
            -record.created_at.unix_nanos,
            record.memory_id,
            record.memory_version_id,
        )


def snapshot_id(
    records: Iterable[MemoryRecord], as_of: Timestamp, text: str, scope: Sequence[str]
) -> str:
    """`compute_snapshot_id`: a hash of the query and of every record id, `txn_<16 hex>`."""
    digest = hashlib.sha256()
    digest.update(text.encode("utf-8"))
    digest.update(str(as_of.unix_seconds).encode("ascii"))
    for part in scope:
        digest.update(part.encode("utf-8"))
    for value in sorted(f"{r.memory_id}:{r.memory_version_id}" for r in records):
        digest.update(value.encode("utf-8"))
    return f"txn_{digest.hexdigest()[:16]}"


def build_policy_package(
    records: Sequence[MemoryRecord], query: Query, snapshot: str
) -> dict[str, Any]:
    """`build_context_package`: active matching constraints ranked, and the answer they give."""
    for record in records:
        record.validate()
    superseded = _superseded_ids(records)
    candidates: list[_Candidate] = []
    excluded: list[dict[str, Any]] = []
    for record in records:
        if record.record_type != "constraint":
            continue
        score = _scope_specificity(record.payload["scope"], query)
        if score is None:
            continue
        reason = _exclusion_reason(record, superseded)
        if reason:
            excluded.append(_excluded_item(record, reason))
            continue
        candidates.append(_Candidate(record, score, _confidence(record)))
    candidates.sort(key=_Candidate.sort_key)
    selected = [_selected_policy_item(i, c) for i, c in enumerate(candidates)]
    return _package(
        query,
        snapshot,
        ruleset="ordering.v1",
        tie_breakers=POLICY_TIE_BREAKERS,
        answer=_derive_answer(selected, records),
        selected=selected,
        excluded=excluded,
        trace=[
            "filter: record_type=constraint",
            "filter: scope_match(actor, action, resource)",
            "exclude: retracted and superseded",
            "sort: precedence tuple with deterministic tie-breakers",
        ],
    )


def build_recall_package(
    records: Sequence[MemoryRecord], query: Query, snapshot: str, record_types: Sequence[str]
) -> dict[str, Any]:
    """`build_recall_context_package`: lexical recall across the chosen record types."""
    if not query.text.strip():
        raise QueryFailed("recall query text MUST be non-empty")
    for record in records:
        record.validate()
    allowed = set(record_types or SUMMARY_RECORD_TYPES)
    terms = tokenize(query.text)
    if not terms:
        raise QueryFailed("recall query text MUST include at least one alphanumeric term")
    superseded = _superseded_ids(records)
    candidates: list[_Candidate] = []
    excluded: list[dict[str, Any]] = []
    for record in records:
        if record.record_type not in allowed:
            continue
        reason = _exclusion_reason(record, superseded)
        record_terms = set(_record_terms(record))
        matched = sum(1 for term in terms if term in record_terms)
        if not reason and matched == 0:
            reason = "no lexical overlap with query text"
        if reason:
            excluded.append(_excluded_item(record, reason))
            continue
        candidates.append(_Candidate(record, matched, _confidence(record)))
    candidates.sort(key=_Candidate.sort_key)
    selected = [_selected_recall_item(i, c, len(terms)) for i, c in enumerate(candidates)]
    type_list = ", ".join(sorted(allowed))
    why = f"Recall query selected {len(selected)} memories across record types [{type_list}]"
    return _package(
        query,
        snapshot,
        ruleset="recall-ordering.v1",
        tie_breakers=RECALL_TIE_BREAKERS,
        answer={"result": "inconclusive", "why": why},
        selected=selected,
        excluded=excluded,
        trace=[
            f"filter: record_type in [{type_list}]",
            "filter: lexical overlap with normalized query terms",
            "exclude: retracted and superseded",
            "sort: recall precedence tuple with deterministic tie-breakers",
        ],
    )


def tokenize(text: str) -> list[str]:
    """Normalized, de-duplicated, sorted terms: ASCII alphanumerics, `_` and `-`, length ≥ 2."""
    terms = set()
    for raw in text.split():
        term = "".join(ch for ch in raw if (ch.isascii() and ch.isalnum()) or ch in "_-").lower()
        if len(term) >= 2:
            terms.add(term)
    return sorted(terms)


def _record_terms(record: MemoryRecord) -> list[str]:
    if record.record_type == "constraint":
        scope = record.payload["scope"]
        sources = [scope["actor"], scope["action"], scope["resource"], record.payload["note"] or ""]
    else:
        sources = [record.payload["summary"]]
    return [term for source in sources for term in tokenize(source)]


def _scope_specificity(scope: dict[str, str], query: Query) -> int | None:
    score = 0
    for field, wanted in (
        (scope["actor"], query.actor),
        (scope["action"], query.action),
        (scope["resource"], query.resource),
    ):
        if field == wanted:
            score += 1
        elif field != "*":
            return None
    return score


def _superseded_ids(records: Iterable[MemoryRecord]) -> set[str]:
    return {target for record in records for target in record.supersedes}


def _exclusion_reason(record: MemoryRecord, superseded: set[str]) -> str:
    if record.truth_status == "retracted":
        return "truth_status is retracted"
    if record.memory_version_id in superseded:
        return "record is superseded by a newer linked record"
    return ""


def _confidence(record: MemoryRecord) -> float:
    return DEFAULT_CONFIDENCE if record.confidence is None else record.confidence


def _item(record: MemoryRecord, rank: int, why: dict[str, Any]) -> dict[str, Any]:
    return {
        "rank": rank,
        "memory_version_id": record.memory_version_id,
        "memory_id": record.memory_id,
        "record_type": record.record_type,
        "version": record.version,
        "truth_status": record.truth_status,
        "confidence": record.confidence,
        "authority": record.authority,
        "why": why,
    }


def _excluded_item(record: MemoryRecord, reason: str) -> dict[str, Any]:
    return _item(record, 0, {"included": False, "reasons": [reason], "rule_scores": None})


def _rule_scores(candidate: _Candidate, scope_match: float) -> dict[str, Any]:
    return {
        "scope_match": scope_match,
        "authority_rank": AUTHORITY_RANK[candidate.record.authority],
        "truth_status_rank": TRUTH_STATUS_RANK[candidate.record.truth_status],
        "confidence": candidate.confidence,
    }


def _selected_policy_item(index: int, candidate: _Candidate) -> dict[str, Any]:
    why = {
        "included": True,
        "reasons": [
            f"scope specificity score={candidate.score} for actor/action/resource",
            "passed active filters (not retracted, not superseded)",
        ],
        "rule_scores": _rule_scores(candidate, to_f32(candidate.score / 3.0)),
    }
    return _item(candidate.record, index + 1, why)


def _selected_recall_item(index: int, candidate: _Candidate, total_terms: int) -> dict[str, Any]:
    record = candidate.record
    why = {
        "included": True,
        "reasons": [
            f"lexical relevance matched {candidate.score}/{total_terms} normalized terms",
            f"record_type={record.record_type} included in recall scope",
            "passed active filters (not retracted, not superseded)",
        ],
        "rule_scores": _rule_scores(candidate, to_f32(candidate.score / total_terms)),
    }
    return _item(record, index + 1, why)


def _derive_answer(
    selected: Sequence[dict[str, Any]], records: Sequence[MemoryRecord]
) -> dict[str, str]:
    """The top-ranked constraints decide; equal authority, truth and confidence tie with rank 1."""
    if not selected:
        return {"result": "inconclusive", "why": "No active matching constraints were found"}
    top = selected[0]
    top_confidence = _item_confidence(top)
    tied = [top["memory_version_id"]]
    for item in selected[1:]:
        if (
            item["authority"] == top["authority"]
            and item["truth_status"] == top["truth_status"]
            and _item_confidence(item) == top_confidence
        ):
            tied.append(item["memory_version_id"])
        else:
            break
    effects = {r.effect for r in records if r.memory_version_id in tied and r.effect}
    if effects == {"allow", "deny"}:
        return {
            "result": "inconclusive",
            "why": "Top-precedence constraints conflict (allow and deny)",
        }
    if effects == {"allow"}:
        return {"result": "allow", "why": "Highest-precedence active constraint allows the action"}
    if effects == {"deny"}:
        return {"result": "deny", "why": "Highest-precedence active constraint denies the action"}
    return {"result": "inconclusive", "why": "No effective constraint decision could be derived"}


def _item_confidence(item: dict[str, Any]) -> float:
    value = item["confidence"]
    return DEFAULT_CONFIDENCE if value is None else float(value)


def _package(
    query: Query,
    snapshot: str,
    *,
    ruleset: str,
    tie_breakers: Sequence[str],
    answer: dict[str, str],
    selected: list[dict[str, Any]],
    excluded: list[dict[str, Any]],
    trace: list[str],
) -> dict[str, Any]:
    excluded.sort(key=lambda item: (item["memory_id"], item["memory_version_id"]))
    for rank, item in enumerate(excluded, start=1):
        item["rank"] = rank
    as_of = query.as_of.rfc3339()
    return {
        "context_package_id": f"cpkg_{as_of}_{snapshot}",
        "generated_at": as_of,
        "query": query.to_json(),
        "determinism": {
            "ruleset_version": ruleset,
            "snapshot_id": snapshot,
            "tie_breakers": list(tie_breakers),
        },
        "answer": answer,
        "selected_items": selected,
        "excluded_items": excluded,
        "ordering_trace": trace,
    }
