"""The reference MemoryKernel HTTP contract, route by route, for v0.3.2 and v0.4.0 (§1, §2)."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx
import pytest
import yaml

from runner.reference.memorykernel import MemoryKernelServer
from tests.reference.conftest import (
    MK_CONTRACT,
    mk_ask_body,
    mk_constraint_body,
    mk_summary_body,
    ok_data,
    typed_error,
)

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


# --- success envelopes -------------------------------------------------------------------------


def test_health_is_the_bare_tagged_release_shape(mk_client: httpx.Client, mk_release: str) -> None:
    assert ok_data(mk_client.get("/v1/health"), mk_release) == {"status": "ok"}


def test_schema_version_on_a_fresh_database_reports_pending_migrations(
    mk_client: httpx.Client, mk_release: str
) -> None:
    data = ok_data(mk_client.post("/v1/db/schema-version"), mk_release)
    assert data == {
        "current_version": 0,
        "target_version": 2,
        "pending_versions": [1, 2],
        "inferred_from_legacy": False,
    }


def test_schema_version_ignores_any_body(mk_client: httpx.Client, mk_release: str) -> None:
    response = mk_client.post("/v1/db/schema-version", content=b"not json at all")
    assert ok_data(response, mk_release)["current_version"] == 0


def test_migrate_dry_run_then_apply(mk_client: httpx.Client, mk_release: str) -> None:
    dry = ok_data(mk_client.post("/v1/db/migrate", json={"dry_run": True}), mk_release)
    assert dry == {
        "dry_run": True,
        "current_version": 0,
        "target_version": 2,
        "would_apply_versions": [1, 2],
        "inferred_from_legacy": False,
        "after_version": None,
        "up_to_date": None,
    }
    applied = ok_data(mk_client.post("/v1/db/migrate", json={"dry_run": False}), mk_release)
    assert applied == {**dry, "dry_run": False, "after_version": 2, "up_to_date": True}
    status = ok_data(mk_client.post("/v1/db/schema-version"), mk_release)
    assert status["current_version"] == 2 and status["pending_versions"] == []


def test_add_constraint_returns_the_memory_record(mk_client: httpx.Client, mk_release: str) -> None:
    record = ok_data(
        mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
    )
    assert ULID.match(record["memory_version_id"]) and ULID.match(record["memory_id"])
    assert RFC3339.match(record["created_at"]) and record["effective_at"] == record["created_at"]
    assert {k: record[k] for k in ("version", "truth_status", "authority", "confidence")} == {
        "version": 1,
        "truth_status": "asserted",
        "authority": "authoritative",
        "confidence": 0.9,
    }
    assert record["provenance"] == {
        "source_uri": "file:///policy.md",
        "source_hash": "sha256:abc123",
        "evidence": [],
    }
    assert record["payload"] == {
        "record_type": "constraint",
        "payload": {
            "scope": {"actor": "user", "action": "use", "resource": "usb_drive"},
            "effect": "deny",
            "note": None,
        },
    }


def test_add_summary_and_given_ids_and_times_are_kept(
    mk_client: httpx.Client, mk_release: str
) -> None:
    body = mk_summary_body(
        memory_id="01jmkdr1ft5eed0dec1s10n000",
        created_at="2026-02-08T12:00:00+02:00",
        effective_at=None,
    )
    record = ok_data(mk_client.post("/v1/memory/add/summary", json=body), mk_release)
    assert record["memory_id"] == "01JMKDR1FT5EED0DEC1S10N000"  # canonical upper case
    assert record["created_at"] == record["effective_at"] == "2026-02-08T12:00:00+02:00"
    assert record["payload"] == {
        "record_type": "decision",
        "payload": {"summary": "Decision: USB devices require explicit approval"},
    }


def test_link_echoes_the_link(mk_client: httpx.Client, mk_release: str) -> None:
    old = ok_data(
        mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
    )
    new = ok_data(
        mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
    )
    body = {
        "from": new["memory_version_id"],
        "to": old["memory_version_id"],
        "relation": "supersedes",
        "writer": "tester",
        "justification": "newer policy",
    }
    data = ok_data(mk_client.post("/v1/memory/link", json=body), mk_release)
    assert data == {
        "from_memory_version_id": new["memory_version_id"],
        "to_memory_version_id": old["memory_version_id"],
        "relation": "supersedes",
        "writer": "tester",
        "justification": "newer policy",
    }
    package = ok_data(mk_client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    assert [i["memory_version_id"] for i in package["selected_items"]] == [new["memory_version_id"]]
    assert package["excluded_items"][0]["why"] == {
        "included": False,
        "reasons": ["record is superseded by a newer linked record"],
        "rule_scores": None,
    }


def test_ask_on_an_empty_database_is_inconclusive(mk_client: httpx.Client, mk_release: str) -> None:
    package = ok_data(mk_client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    assert package["answer"] == {
        "result": "inconclusive",
        "why": "No active matching constraints were found",
    }
    assert package["selected_items"] == [] and package["excluded_items"] == []


def test_ask_package_shape_and_context_lookup(mk_client: httpx.Client, mk_release: str) -> None:
    record = ok_data(
        mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
    )
    as_of = "2026-02-08T12:00:00Z"
    package = ok_data(mk_client.post("/v1/query/ask", json=mk_ask_body(as_of=as_of)), mk_release)
    snapshot = package["determinism"]["snapshot_id"]
    assert re.fullmatch(r"txn_[0-9a-f]{16}", snapshot)
    assert package["context_package_id"] == f"cpkg_{as_of}_{snapshot}"
    assert package["generated_at"] == as_of
    assert package["query"] == {
        "text": "Am I allowed to use a USB drive?",
        "actor": "user",
        "action": "use",
        "resource": "usb_drive",
        "as_of": as_of,
    }
    assert package["determinism"]["ruleset_version"] == "ordering.v1"
    assert package["determinism"]["tie_breakers"][0] == "scope_specificity desc"
    assert package["answer"] == {
        "result": "deny",
        "why": "Highest-precedence active constraint denies the action",
    }
    assert package["selected_items"] == [
        {
            "rank": 1,
            "memory_version_id": record["memory_version_id"],
            "memory_id": record["memory_id"],
            "record_type": "constraint",
            "version": 1,
            "truth_status": "asserted",
            "confidence": 0.9,
            "authority": "authoritative",
            "why": {
                "included": True,
                "reasons": [
                    "scope specificity score=3 for actor/action/resource",
                    "passed active filters (not retracted, not superseded)",
                ],
                "rule_scores": {
                    "scope_match": 1.0,
                    "authority_rank": 3,
                    "truth_status_rank": 4,
                    "confidence": 0.9,
                },
            },
        }
    ]
    assert package["ordering_trace"][0] == "filter: record_type=constraint"
    fetched = ok_data(mk_client.get(f"/v1/context/{package['context_package_id']}"), mk_release)
    assert fetched == package


def test_ask_with_null_as_of_uses_now(mk_client: httpx.Client, mk_release: str) -> None:
    package = ok_data(mk_client.post("/v1/query/ask", json=mk_ask_body(as_of=None)), mk_release)
    assert RFC3339.match(package["query"]["as_of"])
    assert package["context_package_id"].startswith(f"cpkg_{package['query']['as_of']}_txn_")


def test_recall_uses_the_recall_ruleset(mk_client: httpx.Client, mk_release: str) -> None:
    summary = ok_data(mk_client.post("/v1/memory/add/summary", json=mk_summary_body()), mk_release)
    body: dict[str, Any] = {"text": "USB approval", "record_types": [], "as_of": None}
    package = ok_data(mk_client.post("/v1/query/recall", json=body), mk_release)
    assert package["determinism"]["ruleset_version"] == "recall-ordering.v1"
    assert package["query"]["actor"] == package["query"]["resource"] == "*"
    assert [i["memory_id"] for i in package["selected_items"]] == [summary["memory_id"]]
    assert package["selected_items"][0]["why"]["reasons"][0] == (
        "lexical relevance matched 2/2 normalized terms"
    )
    assert package["answer"] == {
        "result": "inconclusive",
        "why": "Recall query selected 1 memories across record types "
        "[decision, event, outcome, preference]",
    }
    assert ok_data(mk_client.get(f"/v1/context/{package['context_package_id']}"), mk_release)


def test_openapi_is_raw_yaml_naming_the_release(mk_client: httpx.Client, mk_release: str) -> None:
    response = mk_client.get("/v1/openapi")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/yaml; charset=utf-8"
    spec = yaml.safe_load(response.text)
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["version"] == MK_CONTRACT[mk_release]
    assert "/v1/ready" not in spec["paths"] and "/v1/query/recall" in spec["paths"]
    error_schema = spec["components"]["schemas"]["ServiceErrorEnvelope"]
    assert ("legacy_error" in error_schema["required"]) is (mk_release == "v0.3.2")


# --- untyped 404/405 ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/ready", "/", "/v1/health/", "/v1/context/"])
def test_unknown_paths_get_a_plain_empty_404(mk_client: httpx.Client, path: str) -> None:
    for response in (mk_client.get(path), mk_client.post(path, json={})):
        assert response.status_code == 404
        assert response.content == b""
        assert "content-type" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v1/health", "GET,HEAD"),
        ("DELETE", "/v1/openapi", "GET,HEAD"),
        ("GET", "/v1/query/ask", "POST"),
        ("PUT", "/v1/db/schema-version", "POST"),
        ("POST", "/v1/context/cpkg_x", "GET,HEAD"),
    ],
)
def test_wrong_method_gets_a_plain_405(
    mk_client: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = mk_client.request(method, path)
    assert response.status_code == 405
    assert response.content == b""
    assert response.headers["allow"] == allow


def test_head_on_health_sends_headers_only(mk_client: httpx.Client) -> None:
    response = mk_client.head("/v1/health")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_one_connection_carries_many_requests(mk_server: MemoryKernelServer) -> None:
    request = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{mk_server.port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", mk_server.port), timeout=5) as sock:
        sock.sendall(request * 3)
        received = b""
        for _ in range(100):
            if received.count(b'"status":"ok"') == 3:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 3


# --- typed errors ------------------------------------------------------------------------------


def test_invalid_json_statuses_follow_the_axum_rejection(
    mk_client: httpx.Client, mk_release: str
) -> None:
    syntax = typed_error(
        mk_client.post(
            "/v1/db/migrate", content=b"{", headers={"content-type": "application/json"}
        ),
        mk_release,
        "invalid_json",
        400,
    )
    assert syntax["message"] == (
        "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1"
    )
    assert syntax["details"] == {"rejection": "Failed to parse the request body as JSON"}

    missing = typed_error(
        mk_client.post("/v1/db/migrate", json={}), mk_release, "invalid_json", 422
    )
    assert missing["message"] == (
        "Failed to deserialize the JSON body into the target type: "
        "missing field `dry_run` at line 1 column 2"
    )
    wrong = typed_error(
        mk_client.post("/v1/db/migrate", json={"dry_run": "yes"}), mk_release, "invalid_json", 422
    )
    assert 'dry_run: invalid type: string "yes", expected a boolean' in wrong["message"]

    no_type = typed_error(
        mk_client.post("/v1/db/migrate", content=b'{"dry_run":true}'),
        mk_release,
        "invalid_json",
        415,
    )
    assert no_type["message"] == "Expected request with `Content-Type: application/json`"


def test_ask_without_as_of_is_a_422_naming_the_missing_field(
    mk_client: httpx.Client, mk_release: str
) -> None:
    # AssistSupport's shipped ask body (contract §3.4), compact as serde_json/reqwest send it.
    body = b'{"text":"Help","actor":"support_agent","action":"resolve","resource":"support_ticket"}'
    response = mk_client.post(
        "/v1/query/ask", content=body, headers={"content-type": "application/json"}
    )
    error = typed_error(response, mk_release, "invalid_json", 422)
    assert error["message"] == (
        "Failed to deserialize the JSON body into the target type: "
        f"missing field `as_of` at line 1 column {len(body)}"
    )
    recall = typed_error(
        mk_client.post("/v1/query/recall", json={"text": "usb", "record_types": []}),
        mk_release,
        "invalid_json",
        422,
    )
    assert "missing field `as_of`" in recall["message"]


@pytest.mark.parametrize("as_of", [5, True, [], "yesterday", "2026-02-08T12:00:00"])
def test_ask_with_a_bad_as_of_is_a_422(
    mk_client: httpx.Client, mk_release: str, as_of: object
) -> None:
    error = typed_error(
        mk_client.post("/v1/query/ask", json=mk_ask_body(as_of=as_of)),
        mk_release,
        "invalid_json",
        422,
    )
    assert error["message"].startswith(
        "Failed to deserialize the JSON body into the target type: as_of: "
    )


def test_validation_error_for_an_empty_writer(mk_client: httpx.Client, mk_release: str) -> None:
    for path, body in (
        ("/v1/memory/add/constraint", mk_constraint_body(writer="")),
        ("/v1/memory/add/summary", mk_summary_body(writer="  ")),
    ):
        error = typed_error(mk_client.post(path, json=body), mk_release, "validation_error", 400)
        assert "writer MUST be provided" in error["message"]


def test_write_conflict_for_the_same_memory_id_twice(
    mk_client: httpx.Client, mk_release: str
) -> None:
    body = mk_constraint_body(memory_id="01JMKDR1FT5EED0C0NSTRA1NT0")
    ok_data(mk_client.post("/v1/memory/add/constraint", json=body), mk_release)
    error = typed_error(
        mk_client.post("/v1/memory/add/constraint", json=body), mk_release, "write_conflict", 409
    )
    assert error["message"] == "failed to insert memory record"  # the outermost context only


def test_write_conflict_for_a_link_to_unknown_versions(
    mk_client: httpx.Client, mk_release: str
) -> None:
    body = {
        "from": "01JMKDR1FT5EED0C0NSTRA1NT0",
        "to": "01JMKDR1FT5EED0DEC1S10N000",
        "relation": "contradicts",
        "writer": "tester",
        "justification": "no such versions",
    }
    error = typed_error(
        mk_client.post("/v1/memory/link", json=body), mk_release, "write_conflict", 409
    )
    assert error["message"] == "failed to insert memory link"


def test_context_package_not_found(mk_client: httpx.Client, mk_release: str) -> None:
    error = typed_error(
        mk_client.get("/v1/context/cpkg_missing"), mk_release, "context_package_not_found", 404
    )
    assert error["message"] == "context package not found: cpkg_missing"


def test_write_failed_for_a_summary_of_type_constraint(
    mk_client: httpx.Client, mk_release: str
) -> None:
    body = mk_summary_body(record_type="constraint")
    error = typed_error(
        mk_client.post("/v1/memory/add/summary", json=body), mk_release, "write_failed", 500
    )
    assert error["message"] == "add_summary does not support record_type=constraint"


def test_query_failed_for_an_empty_recall(mk_client: httpx.Client, mk_release: str) -> None:
    body: dict[str, Any] = {"text": "  ", "record_types": [], "as_of": None}
    error = typed_error(
        mk_client.post("/v1/query/recall", json=body), mk_release, "query_failed", 500
    )
    assert error["message"] == "query error: recall query text MUST be non-empty"


@pytest.mark.parametrize(
    ("operation", "method", "path", "body", "code"),
    [
        ("migrate", "POST", "/v1/db/migrate", {"dry_run": False}, "migration_failed"),
        ("context_show", "GET", "/v1/context/cpkg_x", None, "context_lookup_failed"),
        ("query_ask", "POST", "/v1/query/ask", mk_ask_body(), "query_failed"),
        ("add_link", "POST", "/v1/memory/link", None, "write_failed"),
    ],
)
def test_unclassified_failures_get_the_endpoint_default_code(
    mk_server: MemoryKernelServer,
    mk_client: httpx.Client,
    mk_release: str,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    code: str,
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("injected failure without a classifying keyword")

    monkeypatch.setattr(mk_server.app.api, operation, explode)
    link = {
        "from": "01JMKDR1FT5EED0C0NSTRA1NT0",
        "to": "01JMKDR1FT5EED0C0NSTRA1NT0",
        "relation": "supersedes",
        "writer": "w",
        "justification": "j",
    }
    payload = link if operation == "add_link" else body
    response = mk_client.request(method, path, json=payload)
    error = typed_error(response, mk_release, code, 500)
    assert error["message"] == "injected failure without a classifying keyword"


def test_a_body_over_two_mebibytes_is_refused_with_413(
    mk_client: httpx.Client, mk_release: str
) -> None:
    body = b'{"dry_run":true,"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = mk_client.post(
        "/v1/db/migrate", content=body, headers={"content-type": "application/json"}
    )
    error = typed_error(response, mk_release, "invalid_json", 413)
    assert error["message"] == "Failed to buffer the request body: length limit exceeded"
    assert ok_data(mk_client.get("/v1/health"), mk_release)  # the client reconnects


def test_a_chunked_body_is_read(mk_client: httpx.Client, mk_release: str) -> None:
    chunks = iter([b'{"dry_run":', b"true}"])
    response = mk_client.post(
        "/v1/db/migrate", content=chunks, headers={"content-type": "application/json"}
    )
    assert ok_data(response, mk_release)["dry_run"] is True


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"confidence": 1e39}, "confidence MUST be in [0.0, 1.0]"),
        ({"confidence": None, "truth_status": "inferred"}, "confidence MUST be provided"),
        ({"version": 0}, "version MUST be >= 1"),
        ({"source_hash": "md5:abc"}, "source_hash MUST be formatted as sha256:<hex>"),
        ({"actor": " "}, "constraint scope fields MUST be non-empty"),
    ],
)
def test_record_invariants_are_validation_errors(
    mk_client: httpx.Client, mk_release: str, fields: dict[str, Any], reason: str
) -> None:
    response = mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body(**fields))
    error = typed_error(response, mk_release, "validation_error", 400)
    assert reason in error["message"]
