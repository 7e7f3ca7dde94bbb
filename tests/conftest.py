"""Suite-wide settings: runs use the fast consumer profile unless a test asks for the shipped one.

AssistSupport ships a 2500 ms consumer timeout, and the drill catalog scales its windows with it;
the suite drills the same catalog at 500 ms (`MKDRILL_CONSUMER_TIMEOUT_MS`, one flag away from the
default) to stay fast. A test that proves the shipped default removes the variable itself.
"""

from __future__ import annotations

import pytest

FAST_CONSUMER_TIMEOUT_MS = "500"


@pytest.fixture(autouse=True)
def fast_consumer_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `mkdrill` the test starts (in process or as a subprocess) sees the fast timeout."""
    monkeypatch.setenv("MKDRILL_CONSUMER_TIMEOUT_MS", FAST_CONSUMER_TIMEOUT_MS)
