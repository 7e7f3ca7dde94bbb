"""Suite-wide settings: the fast consumer profile unless a test asks for the shipped one; slow first.

AssistSupport ships a 2500 ms consumer timeout, and the drill catalog scales its windows with it;
the suite drills the same catalog at 500 ms (`MKDRILL_CONSUMER_TIMEOUT_MS`, one flag away from the
default) to stay fast. A test that proves the shipped default removes the variable itself.

The suite runs on two pytest-xdist workers (`-n 2 --dist loadgroup` in pyproject.toml): most of its
time is drills waiting out their windows. Tests marked `slow` (whole drill catalogs, compose runs)
are handed out first, in collection order (`--no-loadscope-reorder`), so the long ones start at
once and the short ones fill in around them. Tests sharing a module fixture carry an `xdist_group`
and stay on one worker. The CPU-heavy runs (group `cpu-heavy-runs`: a consumer burning CPU per
Draft, 51 Drafts in flight, whole catalogs on containers) run alone on the machine
(tests/machine_share.py): beside another test their drills miss their bounds on two cores.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.machine_share import ALONE_GROUP, machine_share

FAST_CONSUMER_TIMEOUT_MS = "500"


@pytest.fixture(autouse=True)
def fast_consumer_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `mkdrill` the test starts (in process or as a subprocess) sees the fast timeout."""
    monkeypatch.setenv("MKDRILL_CONSUMER_TIMEOUT_MS", FAST_CONSUMER_TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort: otherwise in collection order)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def runs_alone(item: pytest.Item) -> bool:
    """Whether the test is one of the CPU-heavy runs that have the machine to themselves."""
    return any(ALONE_GROUP in mark.args for mark in item.iter_markers("xdist_group"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Setup, call and teardown under the machine share (before pytest-timeout's clock starts)."""
    with machine_share(exclusive=runs_alone(item)):
        return (yield)
