"""Ask and recall ordering of the reference MemoryKernel (ordering.v1, recall-ordering.v1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.reference.memorykernel.model import MemoryRecord, QueryFailed, constraint_from_request
from runner.reference.memorykernel.query import (
    Query,
    build_policy_package,
    build_recall_package,
    tokenize,
)
from runner.reference.memorykernel.timestamps import Timestamp, parse_rfc3339
from tests.reference.conftest import mk_constraint_body

AS_OF = parse_rfc3339("2026-02-08T12:00:00Z")
ASK = Query("may I?", "support_agent", "resolve", "support_ticket", AS_OF)


def constraint(memory_id: str, **fields: Any) -> MemoryRecord:
    """A constraint on the support scope unless told otherwise; fixed times for determinism."""
    body = mk_constraint_body(
        actor="support_agent",
        action="resolve",
        resource="support_ticket",
        effect="allow",
        memory_id=memory_id,
        created_at=Timestamp(AS_OF.unix_nanos - 10**9),
        effective_at=None,
    )
    body.update(fields)
    return constraint_from_request(body)


def ids(package: dict[str, Any], key: str = "selected_items") -> list[str]:
    return [item["memory_id"] for item in package[key]]


def test_exact_scope_beats_wildcards() -> None:
    wildcard = constraint("01JMKDR1FT5EED0C0NSTRA1NT1", actor="*", effect="deny")
    exact = constraint("01JMKDR1FT5EED0C0NSTRA1NT2", effect="allow")
    package = build_policy_package([wildcard, exact], ASK, "txn_0")
    assert ids(package) == [exact.memory_id, wildcard.memory_id]
    scores = [item["why"]["rule_scores"]["scope_match"] for item in package["selected_items"]]
    assert scores == [1.0, 0.6666667]
    # The kernel's tie rule compares authority, truth and confidence only, not scope, so an
    # equally strong wildcard deny still counts as a conflict with the exact allow.
    assert package["answer"]["result"] == "inconclusive"
    weaker_wildcard = replace(wildcard, confidence=0.5)
    package = build_policy_package([weaker_wildcard, exact], ASK, "txn_0")
    assert package["answer"]["result"] == "allow"


def test_non_matching_scopes_are_ignored_not_excluded() -> None:
    other = constraint("01JMKDR1FT5EED0C0NSTRA1NT1", resource="usb_drive")
    package = build_policy_package([other], ASK, "txn_0")
    assert package["selected_items"] == [] and package["excluded_items"] == []
    assert package["answer"]["result"] == "inconclusive"


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        ({"authority": "authoritative"}, {"authority": "derived"}),
        ({"truth_status": "observed"}, {"truth_status": "asserted"}),
        ({"confidence": 0.95}, {"confidence": 0.9}),
        ({"confidence": 0.6}, {"confidence": None}),  # None ranks as 0.5
    ],
)
def test_precedence_authority_truth_confidence(
    stronger: dict[str, Any], weaker: dict[str, Any]
) -> None:
    deny = constraint("01JMKDR1FT5EED0C0NSTRA1NT1", effect="deny", **weaker)
    allow = constraint("01JMKDR1FT5EED0C0NSTRA1NT2", effect="allow", **stronger)
    package = build_policy_package([deny, allow], ASK, "txn_0")
    assert ids(package) == [allow.memory_id, deny.memory_id]
    assert package["answer"] == {
        "result": "allow",
        "why": "Highest-precedence active constraint allows the action",
    }


def test_equal_top_ranks_that_disagree_are_inconclusive() -> None:
    allow = constraint("01JMKDR1FT5EED0C0NSTRA1NT1", effect="allow")
    deny = constraint("01JMKDR1FT5EED0C0NSTRA1NT2", effect="deny")
    package = build_policy_package([deny, allow], ASK, "txn_0")
    assert ids(package) == [allow.memory_id, deny.memory_id]  # memory_id asc breaks the tie
    assert package["answer"] == {
        "result": "inconclusive",
        "why": "Top-precedence constraints conflict (allow and deny)",
    }


def test_retracted_and_superseded_are_excluded_with_reasons() -> None:
    retracted = constraint("01JMKDR1FT5EED0C0NSTRA1NT3", truth_status="retracted")
    old = constraint("01JMKDR1FT5EED0C0NSTRA1NT2", effect="deny")
    new = constraint("01JMKDR1FT5EED0C0NSTRA1NT1", supersedes=[old.memory_version_id])
    package = build_policy_package([retracted, old, new], ASK, "txn_0")
    assert ids(package) == [new.memory_id]
    assert ids(package, "excluded_items") == [old.memory_id, retracted.memory_id]
    assert [i["rank"] for i in package["excluded_items"]] == [1, 2]
    assert [i["why"]["reasons"][0] for i in package["excluded_items"]] == [
        "record is superseded by a newer linked record",
        "truth_status is retracted",
    ]


records_strategy = st.lists(
    st.builds(
        lambda n, effect, authority, truth, confidence: constraint(
            f"01JMKDR1FT5EED0C0NSTRA1{n:03d}",
            effect=effect,
            authority=authority,
            truth_status=truth,
            confidence=confidence,
        ),
        st.integers(0, 999),
        st.sampled_from(["allow", "deny"]),
        st.sampled_from(["authoritative", "derived", "note"]),
        st.sampled_from(["asserted", "observed", "inferred"]),
        st.sampled_from([0.5, 0.7, 0.9]),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(records=records_strategy, data=st.data())
def test_the_package_does_not_depend_on_storage_order(
    records: list[MemoryRecord], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(records))
    assert build_policy_package(records, ASK, "txn_0") == build_policy_package(
        shuffled, ASK, "txn_0"
    )


def test_recall_ranks_by_matched_terms_and_excludes_non_matches() -> None:
    def summary(memory_id: str, text: str) -> MemoryRecord:
        return replace(constraint(memory_id), record_type="decision", payload={"summary": text})

    both = summary("01JMKDR1FT5EED0DEC1S10N001", "USB drives need approval")
    one = summary("01JMKDR1FT5EED0DEC1S10N002", "approval flow")
    none = summary("01JMKDR1FT5EED0DEC1S10N003", "lunch menu")
    query = Query("usb approval?", "*", "*", "*", AS_OF)
    package = build_recall_package([one, none, both], query, "txn_0", [])
    assert ids(package) == [both.memory_id, one.memory_id]
    assert ids(package, "excluded_items") == [none.memory_id]
    assert package["selected_items"][1]["why"]["rule_scores"]["scope_match"] == 0.5


def test_recall_refuses_text_without_terms() -> None:
    with pytest.raises(QueryFailed, match="at least one alphanumeric term"):
        build_recall_package([], Query("? !", "*", "*", "*", AS_OF), "txn_0", [])


def test_tokenize_normalizes_like_the_kernel() -> None:
    assert tokenize("USB-drive, a usb_DRIVE! x é9 USB-drive") == ["usb-drive", "usb_drive"]
