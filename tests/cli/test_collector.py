"""The collector spared the objects imports make: off while they are made, frozen after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from runner.collector import imports_uncollected


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # this test process keeps collecting what it made


def test_no_collection_inside_and_what_was_made_is_frozen_after(unfrozen: None) -> None:
    before = gc.get_freeze_count()
    with imports_uncollected():
        assert not gc.isenabled()
        made = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(made)


def test_a_disabled_collector_stays_disabled(unfrozen: None) -> None:
    gc.disable()
    try:
        with imports_uncollected():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_when_the_block_raises(unfrozen: None) -> None:
    with pytest.raises(ImportError), imports_uncollected():
        raise ImportError("no such module")
    assert gc.isenabled()
