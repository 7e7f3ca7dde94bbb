"""Reasons shortened for people: at a word or a JSON member, with an ellipsis; never mid-token."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from runner.text import ELLIPSIS, shorten_at_word

REASON = (
    "steady_enriched: expected 5 enriched Drafts in a row, observed 0/991 enriched — MemoryKernel "
    'query ask returned HTTP 422 [invalid_json]: {"service_contract_version":"service.v3",'
    '"error":{"code":"invalid_json","message":"Failed to deserialize the JSON body"}}'
)


def test_a_long_reason_is_cut_between_json_members_not_inside_one() -> None:
    short = shorten_at_word(REASON, 200)
    assert short.endswith(f'"service_contract_version":"service.v3" {ELLIPSIS}')
    assert len(short) <= 200


def test_short_text_is_left_whole_on_one_line() -> None:
    assert shorten_at_word("a  b\nc", 20) == "a b c"


@pytest.mark.parametrize("limit", [10, 40, 77, 150])
def test_cut_at_a_word(limit: int) -> None:
    text = (
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi " * 3
    )
    short = shorten_at_word(text, limit)
    assert len(short) <= limit and short.endswith(ELLIPSIS)
    kept = short.removesuffix(f" {ELLIPSIS}").split()
    assert kept == text.split()[: len(kept)]  # every kept word whole


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400), st.integers(5, 300))
@example("0000\r0", 5)  # the first word does not fit beside the ellipsis: cut at the limit
def test_never_longer_than_the_limit_and_only_whole_tokens(text: str, limit: int) -> None:
    short = shorten_at_word(text, limit)
    assert len(short) <= limit
    flat = " ".join(text.split())
    if short != flat:
        kept = short.removesuffix(f" {ELLIPSIS}")
        assert flat.startswith(kept)
        following = flat[len(kept) : len(kept) + 1]
        room = limit - len(ELLIPSIS) - 1  # what is left beside " …"
        assert following in ("", " ", ",", ";", ":") or (
            " " not in flat[:room] and "," not in flat[:room]
        )
