"""Where the reference MemoryKernel once differed from the real binaries, it now answers alike.

Each test pins one behaviour observed on the real v0.3.2 and v0.4.0 binaries (the comparison
itself is tests/conformance/test_memorykernel_real.py, run with the binaries).
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx

from runner.reference.memorykernel import MemoryKernelServer
from tests.http11.raw import raw_exchange
from tests.reference.conftest import (
    mk_ask_body,
    mk_constraint_body,
    mk_summary_body,
    ok_data,
    typed_error,
)

FIXED = "2026-01-01T00:00:00Z"
# sha256 of `GET /v1/openapi` from the real binaries (the producer's openapi/openapi.yaml).
REAL_OPENAPI_SHA256 = {
    "v0.3.2": "2f9f764c9c4b48ff678ae6f4ef817cd6b070055f21ea38cd0d525230f717ce71",
    "v0.4.0": "c9c392941e9496b90380d184073336eaf8709566dc6576da58363ff737b7647b",
}
# The real store's tables after a fresh database is migrated to version 2, with their columns.
REAL_LAYOUT = {
    "schema_migrations": ["version", "applied_at"],
    "memory_records": [
        "memory_version_id",
        "memory_id",
        "version",
        "record_type",
        "created_at",
        "effective_at",
        "truth_status",
        "authority",
        "confidence",
        "writer",
        "justification",
        "source_uri",
        "source_hash",
        "evidence_json",
    ],
    "memory_links": [
        "id",
        "from_memory_version_id",
        "to_memory_version_id",
        "link_type",
        "writer",
        "justification",
        "created_at",
    ],
    "context_packages": ["context_package_id", "generated_at", "package_json"],
    "constraint_payloads": ["memory_version_id", "actor", "action", "resource", "effect", "note"],
    "decision_payloads": ["memory_version_id", "summary"],
    "preference_payloads": ["memory_version_id", "summary"],
    "event_payloads": ["memory_version_id", "summary"],
    "outcome_payloads": ["memory_version_id", "summary"],
    "sqlite_sequence": ["name", "seq"],
}


def test_ask_and_recall_repeated_at_a_fixed_as_of_conflict(
    mk_client: httpx.Client, mk_release: str
) -> None:
    for path, body in (
        ("/v1/query/ask", mk_ask_body(as_of=FIXED)),
        ("/v1/query/recall", {"text": "usb", "record_types": [], "as_of": FIXED}),
    ):
        ok_data(mk_client.post(path, json=body), mk_release)
        error = typed_error(mk_client.post(path, json=body), mk_release, "write_conflict", 409)
        assert error["message"] == "failed to persist context package"


def test_the_same_link_written_twice_is_two_rows(
    mk_client: httpx.Client, mk_release: str, mk_db: Path
) -> None:
    first = ok_data(
        mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
    )
    second = ok_data(
        mk_client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
    )
    link = {
        "from": second["memory_version_id"],
        "to": first["memory_version_id"],
        "relation": "supersedes",
        "writer": "w",
        "justification": "j",
    }
    for _ in range(2):
        assert ok_data(mk_client.post("/v1/memory/link", json=link), mk_release)["writer"] == "w"
    with closing(sqlite3.connect(mk_db)) as db:
        assert db.execute("SELECT COUNT(*) FROM memory_links").fetchone() == (2,)


def test_messages_carry_only_the_outermost_context(
    mk_client: httpx.Client, mk_release: str, tmp_path: Path
) -> None:
    body = mk_constraint_body(memory_id="01JMKDR1FT5EED0C0NSTRA1NT0")
    ok_data(mk_client.post("/v1/memory/add/constraint", json=body), mk_release)
    conflict = typed_error(
        mk_client.post("/v1/memory/add/constraint", json=body), mk_release, "write_conflict", 409
    )
    assert conflict["message"] == "failed to insert memory record"
    (tmp_path / "dir.sqlite3").mkdir()
    (tmp_path / "junk.sqlite3").write_bytes(b"not sqlite\n" * 400)
    for db, message in (
        (tmp_path / "dir.sqlite3", f"failed to open sqlite database at {tmp_path / 'dir.sqlite3'}"),
        (tmp_path / "junk.sqlite3", "failed to configure sqlite pragmas"),
    ):
        with MemoryKernelServer(mk_release, db) as server, httpx.Client(base_url=server.url) as c:
            for response in (
                c.post("/v1/db/schema-version"),
                c.post("/v1/query/ask", json=mk_ask_body()),
            ):
                assert (
                    typed_error(response, mk_release, "schema_unavailable", 503)["message"]
                    == message
                )


def test_the_database_has_the_real_layout(
    mk_client: httpx.Client, mk_release: str, mk_db: Path
) -> None:
    ok_data(mk_client.post("/v1/db/migrate", json={"dry_run": False}), mk_release)
    with closing(sqlite3.connect(mk_db)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        layout = {t: [c[1] for c in db.execute(f"PRAGMA table_info({t})")] for t in tables}
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert layout == REAL_LAYOUT
    assert versions == [1, 2]


def test_a_version_1_database_is_migrated_keeping_its_records(
    mk_release: str, tmp_path: Path
) -> None:
    """Migration 1's layout (records keyed by memory_id) is rebuilt keyed by memory_version_id."""
    db = tmp_path / "v1.sqlite3"
    with MemoryKernelServer(mk_release, db) as server, httpx.Client(base_url=server.url) as c:
        ok_data(c.post("/v1/db/schema-version"), mk_release)
    with closing(sqlite3.connect(db)) as conn:
        from runner.reference.memorykernel.schema import MIGRATION_1

        for statement in MIGRATION_1:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00Z')")
        conn.execute(
            "INSERT INTO memory_records VALUES ('01JMKDR1FT5EED0C0NSTRA1NT0', 1, 'constraint',"
            " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'asserted', 'authoritative', 0.9,"
            " 'w', 'j', 'file:///p', NULL, '[]')"
        )
        conn.execute(
            "INSERT INTO constraint_payloads VALUES"
            " ('01JMKDR1FT5EED0C0NSTRA1NT0', 'user', 'use', 'usb_drive', 'deny', NULL)"
        )
        conn.commit()
    with MemoryKernelServer(mk_release, db) as server, httpx.Client(base_url=server.url) as c:
        status = ok_data(c.post("/v1/db/schema-version"), mk_release)
        assert status["current_version"] == 1 and status["pending_versions"] == [2]
        package = ok_data(c.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    assert [i["memory_id"] for i in package["selected_items"]] == ["01JMKDR1FT5EED0C0NSTRA1NT0"]
    assert package["answer"]["result"] == "deny"


def test_records_without_id_columns_break_only_the_calls_that_read_them(
    mk_client: httpx.Client, mk_release: str, mk_db: Path
) -> None:
    ok_data(mk_client.post("/v1/db/migrate", json={"dry_run": False}), mk_release)
    with closing(sqlite3.connect(mk_db)) as db:
        db.executescript(
            "PRAGMA foreign_keys = OFF; DROP TABLE memory_records; CREATE TABLE memory_records (x);"
        )
    assert ok_data(mk_client.post("/v1/db/schema-version"), mk_release)["current_version"] == 2
    typed_error(mk_client.get("/v1/context/cpkg_x"), mk_release, "context_package_not_found", 404)
    ask = typed_error(
        mk_client.post("/v1/query/ask", json=mk_ask_body()), mk_release, "schema_unavailable", 503
    )
    assert ask["message"].startswith("no such column: memory_version_id in SELECT")
    add = typed_error(
        mk_client.post("/v1/memory/add/summary", json=mk_summary_body()),
        mk_release,
        "schema_unavailable",
        503,
    )
    assert add["message"] == "failed to insert memory record"


def test_openapi_is_the_producers_document(mk_client: httpx.Client, mk_release: str) -> None:
    response = mk_client.get("/v1/openapi")
    assert response.headers["content-type"] == "application/yaml; charset=utf-8"
    assert hashlib.sha256(response.content).hexdigest() == REAL_OPENAPI_SHA256[mk_release]


def test_http_1_0_garbage_and_413_are_answered_like_hyper(mk_server: MemoryKernelServer) -> None:
    http10 = raw_exchange(mk_server.port, b"GET /v1/health HTTP/1.0\r\n\r\n")
    assert http10.startswith(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n")
    assert b"connection:" not in http10 and http10.endswith(b"<EOF>")
    garbage = raw_exchange(mk_server.port, b"GARBAGE\r\n\r\n")
    assert garbage.startswith(
        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n"
    )
    assert garbage.endswith(b"\r\n\r\n<EOF>")
    big = b"x" * (2 * 1024 * 1024 + 10)
    too_large = raw_exchange(
        mk_server.port,
        b"POST /v1/query/ask HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(big)}\r\n\r\n".encode()
        + big
        + b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert too_large.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert b"connection:" not in too_large
    assert too_large.count(b"HTTP/1.1 200 OK") == 1  # the connection carried the next request
