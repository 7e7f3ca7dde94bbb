"""Shared fixtures for the reference-service tests (MemoryKernel fixtures are prefixed `mk_`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.contract import ERROR_CODE_STATUS
from runner.reference.memorykernel import MemoryKernelServer

MK_RELEASES = ("v0.3.2", "v0.4.0")
MK_CONTRACT = {"v0.3.2": "service.v2", "v0.4.0": "service.v3"}


@pytest.fixture(params=MK_RELEASES)
def mk_release(request: pytest.FixtureRequest) -> str:
    """Each tagged MemoryKernel release in turn."""
    tag: str = request.param
    return tag


@pytest.fixture
def mk_db(tmp_path: Path) -> Path:
    """A database path that does not exist yet (the service creates it)."""
    return tmp_path / "memory_kernel.sqlite3"


@pytest.fixture
def mk_server(mk_release: str, mk_db: Path) -> Iterator[MemoryKernelServer]:
    """A running reference MemoryKernel on an ephemeral loopback port."""
    with MemoryKernelServer(mk_release, mk_db) as server:
        yield server


@pytest.fixture
def mk_client(mk_server: MemoryKernelServer) -> Iterator[httpx.Client]:
    """A keep-alive client bound to `mk_server`."""
    with httpx.Client(base_url=mk_server.url, timeout=10.0) as client:
        yield client


def mk_constraint_body(**overrides: Any) -> dict[str, Any]:
    """The contract's AddConstraintRequest example, with overrides."""
    body: dict[str, Any] = {
        "actor": "user",
        "action": "use",
        "resource": "usb_drive",
        "effect": "deny",
        "note": None,
        "memory_id": None,
        "version": 1,
        "writer": "tester",
        "justification": "service fixture",
        "source_uri": "file:///policy.md",
        "source_hash": "sha256:abc123",
        "evidence": [],
        "confidence": 0.9,
        "truth_status": "asserted",
        "authority": "authoritative",
        "created_at": None,
        "effective_at": None,
        "supersedes": [],
        "contradicts": [],
    }
    body.update(overrides)
    return body


def mk_summary_body(**overrides: Any) -> dict[str, Any]:
    """An AddSummaryRequest (a decision), with overrides."""
    body = mk_constraint_body(truth_status="observed", confidence=0.8)
    for key in ("actor", "action", "resource", "effect", "note"):
        del body[key]
    body.update(record_type="decision", summary="Decision: USB devices require explicit approval")
    body.update(overrides)
    return body


def mk_ask_body(**overrides: Any) -> dict[str, Any]:
    """The contract's AskRequest example (with `as_of: null`), with overrides."""
    body: dict[str, Any] = {
        "text": "Am I allowed to use a USB drive?",
        "actor": "user",
        "action": "use",
        "resource": "usb_drive",
        "as_of": None,
    }
    body.update(overrides)
    return body


def ok_data(response: httpx.Response, release: str) -> Any:
    """Assert a success envelope of `release` and return its `data`."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"service_contract_version", "api_contract_version", "data"}
    assert body["service_contract_version"] == MK_CONTRACT[release]
    assert body["api_contract_version"] == "api.v1"
    return body["data"]


def typed_error(response: httpx.Response, release: str, code: str, status: int) -> dict[str, Any]:
    """Assert a typed error envelope of `release` (legacy_error only in v2) and return `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert "api_contract_version" not in body
    assert "data" not in body
    assert body["service_contract_version"] == MK_CONTRACT[release]
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if release == "v0.3.2":
        assert set(body) == {"service_contract_version", "error", "legacy_error"}
        assert body["legacy_error"] == error["message"]
    else:
        assert set(body) == {"service_contract_version", "error"}
    if code == "invalid_json":
        assert set(error) == {"code", "message", "details"}
        assert set(error["details"]) == {"rejection"}
    else:
        assert set(error) == {"code", "message"}
    assert ERROR_CODE_STATUS[code] == status or code == "invalid_json"
    return dict(error)
