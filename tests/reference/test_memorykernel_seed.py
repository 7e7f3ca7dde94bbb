"""`seed_policy` against the reference MemoryKernel: idempotent; then the support ask answers."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.errors import EnvironmentProblem
from runner.probes.seed import POLICY_MEMORY_ID, seed_policy
from runner.reference.memorykernel import MemoryKernelServer
from tests.reference.conftest import ok_data


def test_seeding_twice_gives_the_support_ask_an_answer(
    mk_server: MemoryKernelServer, mk_client: httpx.Client, mk_release: str
) -> None:
    seed_policy(mk_server.url)
    seed_policy(mk_server.url + "/")  # already seeded: 409 write_conflict is fine
    ask = {
        "text": "Customer cannot log in after a password reset",
        "actor": "support_agent",
        "action": "resolve",
        "resource": "support_ticket",
        "as_of": None,
    }
    package = ok_data(mk_client.post("/v1/query/ask", json=ask), mk_release)
    assert package["answer"]["result"] == "allow"
    assert [item["memory_id"] for item in package["selected_items"]] == [POLICY_MEMORY_ID]
    recall: dict[str, Any] = {"text": "knowledge-base citations", "record_types": [], "as_of": None}
    assert ok_data(mk_client.post("/v1/query/recall", json=recall), mk_release)["selected_items"]


def test_a_broken_database_is_an_environment_problem(mk_release: str, tmp_path: Path) -> None:
    with (
        MemoryKernelServer(mk_release, tmp_path) as server,  # the db path is a directory
        pytest.raises(EnvironmentProblem, match="HTTP 503 schema_unavailable") as caught,
    ):
        seed_policy(server.url)
    assert server.url in str(caught.value)


def test_nothing_listening_is_an_environment_problem_naming_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(EnvironmentProblem, match=rf"seeding MemoryKernel at {url} failed"):
        seed_policy(url, timeout_s=2.0)
