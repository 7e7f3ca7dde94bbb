"""The reference MemoryKernel's SQLite behaviour: persistence, migrations, schema_unavailable."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from runner.reference.memorykernel import MemoryKernelServer
from tests.reference.conftest import mk_ask_body, mk_constraint_body, ok_data, typed_error

StartOn = Callable[[Path], httpx.Client]


def serve(release: str, db: Path) -> tuple[MemoryKernelServer, httpx.Client]:
    server = MemoryKernelServer(release, db).start()
    return server, httpx.Client(base_url=server.url, timeout=15.0)


@pytest.fixture
def mk_at(mk_release: str) -> Iterator[StartOn]:
    """Start a server on a given database path: `client = mk_at(path)`; all stopped afterwards."""
    started: list[tuple[MemoryKernelServer, httpx.Client]] = []

    def start(db: Path) -> httpx.Client:
        server, client = serve(mk_release, db)
        started.append((server, client))
        return client

    yield start
    for server, client in started:
        client.close()
        server.stop()


def future_schema_db(path: Path) -> Path:
    """A database whose `schema_migrations` already lists version 3 (contract §5)."""
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        db.executemany("INSERT INTO schema_migrations VALUES (?, 'x')", [(1,), (2,), (3,)])
        db.commit()
    return path


def test_records_persist_across_a_restart(mk_release: str, mk_db: Path) -> None:
    server, client = serve(mk_release, mk_db)
    with client:
        record = ok_data(
            client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release
        )
        package = ok_data(client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    server.stop()
    server.stop()  # idempotent

    server, client = serve(mk_release, mk_db)
    with client:
        again = ok_data(client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
        assert [i["memory_version_id"] for i in again["selected_items"]] == [
            record["memory_version_id"]
        ]
        stored = client.get(f"/v1/context/{package['context_package_id']}")
        assert ok_data(stored, mk_release) == package
    server.stop()


def test_the_database_file_is_created_in_wal_mode(mk_client: httpx.Client, mk_db: Path) -> None:
    assert not mk_db.exists() or mk_db.stat().st_size == 0
    mk_client.post("/v1/db/schema-version")
    with closing(sqlite3.connect(mk_db)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"schema_migrations"}  # schema-version reads only


def test_an_unmigrated_database_is_fixed_by_the_first_ask(
    mk_client: httpx.Client, mk_release: str
) -> None:
    before = ok_data(mk_client.post("/v1/db/schema-version"), mk_release)
    assert before["pending_versions"] == [1, 2]
    ok_data(mk_client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    after = ok_data(mk_client.post("/v1/db/schema-version"), mk_release)
    assert after == {
        "current_version": 2,
        "target_version": 2,
        "pending_versions": [],
        "inferred_from_legacy": False,
    }


def test_a_legacy_database_without_migration_rows_is_inferred(
    mk_at: StartOn, mk_release: str, tmp_path: Path
) -> None:
    db = tmp_path / "legacy.sqlite3"
    with MemoryKernelServer(mk_release, db) as server, httpx.Client(base_url=server.url) as client:
        ok_data(client.post("/v1/memory/add/constraint", json=mk_constraint_body()), mk_release)
    with closing(sqlite3.connect(db)) as raw:
        raw.execute("DELETE FROM schema_migrations")
        raw.commit()
    client = mk_at(db)
    status = ok_data(client.post("/v1/db/schema-version"), mk_release)
    assert status == {
        "current_version": 2,
        "target_version": 2,
        "pending_versions": [],
        "inferred_from_legacy": True,
    }
    package = ok_data(client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    assert len(package["selected_items"]) == 1


def broken_db(kind: str, tmp_path: Path) -> Path:
    if kind == "directory":
        return tmp_path
    if kind == "missing-parent":
        return tmp_path / "no" / "such" / "memory_kernel.sqlite3"
    if kind == "garbage":
        path = tmp_path / "garbage.sqlite3"
        path.write_bytes(b"certainly not an SQLite database\n" * 200)
        return path
    path = tmp_path / "invalid.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE memory_records (id TEXT PRIMARY KEY, body TEXT)")
        db.commit()
    return path


@pytest.mark.parametrize("kind", ["directory", "missing-parent", "garbage", "records-without-ids"])
def test_an_unusable_database_is_schema_unavailable_everywhere(
    mk_at: StartOn, mk_release: str, tmp_path: Path, kind: str
) -> None:
    client = mk_at(broken_db(kind, tmp_path))
    assert ok_data(client.get("/v1/health"), mk_release) == {"status": "ok"}
    calls = [
        client.post("/v1/db/schema-version"),
        client.post("/v1/db/migrate", json={"dry_run": True}),
        client.post("/v1/query/ask", json=mk_ask_body()),
        client.post("/v1/memory/add/constraint", json=mk_constraint_body()),
        client.get("/v1/context/cpkg_x"),
    ]
    for response in calls:
        error = typed_error(response, mk_release, "schema_unavailable", 503)
        text = error["message"].lower()
        assert "database" in text or "schema" in text or "sqlite" in text


def test_a_future_schema_row_passes_schema_version_but_fails_ask(
    mk_at: StartOn, mk_release: str, tmp_path: Path
) -> None:
    client = mk_at(future_schema_db(tmp_path / "future.sqlite3"))
    status = ok_data(client.post("/v1/db/schema-version"), mk_release)
    assert status["current_version"] == 3 and status["pending_versions"] == []
    for response in (
        client.post("/v1/query/ask", json=mk_ask_body()),
        client.post("/v1/db/migrate", json={"dry_run": False}),
        client.post("/v1/memory/add/constraint", json=mk_constraint_body()),
    ):
        error = typed_error(response, mk_release, "schema_unavailable", 503)
        assert error["message"] == "unsupported schema version 3; expected 2"
    dry = ok_data(client.post("/v1/db/migrate", json={"dry_run": True}), mk_release)
    assert dry["current_version"] == 3 and dry["would_apply_versions"] == []


def test_the_body_is_checked_before_the_database(
    mk_at: StartOn, mk_release: str, tmp_path: Path
) -> None:
    client = mk_at(future_schema_db(tmp_path / "future.sqlite3"))
    body = mk_ask_body()
    del body["as_of"]
    typed_error(client.post("/v1/query/ask", json=body), mk_release, "invalid_json", 422)


def test_a_short_lock_is_waited_out(mk_client: httpx.Client, mk_release: str, mk_db: Path) -> None:
    ok_data(mk_client.post("/v1/db/migrate", json={"dry_run": False}), mk_release)
    locked = threading.Event()

    def hold_lock() -> None:
        with closing(sqlite3.connect(mk_db, isolation_level=None)) as db:
            db.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(0.4)
            db.execute("COMMIT")

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    response = mk_client.post("/v1/query/ask", json=mk_ask_body())
    waited = time.monotonic() - started
    holder.join(5)
    ok_data(response, mk_release)
    assert waited >= 0.3


@pytest.mark.slow
@pytest.mark.parametrize("mk_release", ["v0.4.0"])  # release-independent; one 5 s wait is enough
def test_a_lock_beyond_the_busy_timeout_blocks_the_workers_then_is_schema_unavailable(
    mk_release: str, mk_db: Path
) -> None:
    """Database calls block the real service's worker threads: with both busy waiting out the
    5 s busy timeout, even health waits for one of them."""
    with MemoryKernelServer(mk_release, mk_db, workers=2) as server:
        client = httpx.Client(base_url=server.url, timeout=15.0)
        ok_data(client.post("/v1/db/migrate", json={"dry_run": False}), mk_release)
        release_lock = threading.Event()
        locked = threading.Event()
        answers: dict[str, tuple[httpx.Response, float]] = {}

        def hold_lock() -> None:
            with closing(sqlite3.connect(mk_db, isolation_level=None)) as db:
                db.execute("BEGIN EXCLUSIVE")
                locked.set()
                release_lock.wait(20)
                db.execute("COMMIT")

        def call(name: str) -> None:
            started = time.monotonic()
            with httpx.Client(base_url=server.url, timeout=15.0) as own:
                if name == "health":
                    response = own.get("/v1/health")
                else:
                    response = own.post("/v1/query/ask", json=mk_ask_body())
            answers[name] = (response, time.monotonic() - started)

        holder = threading.Thread(target=hold_lock)
        holder.start()
        try:
            assert locked.wait(5)
            asks = [threading.Thread(target=call, args=(f"ask{n}",)) for n in range(2)]
            for thread in asks:
                thread.start()
            time.sleep(0.5)
            call("health")
            for thread in asks:
                thread.join(15)
        finally:
            release_lock.set()
            holder.join(5)
            client.close()
    for name in ("ask0", "ask1"):
        response, waited = answers[name]
        error = typed_error(response, mk_release, "schema_unavailable", 503)
        assert error["message"] == "failed to persist context package"
        assert waited >= 4.5
    health, waited = answers["health"]
    assert ok_data(health, mk_release) == {"status": "ok"}
    assert waited >= 3.5  # sent 0.5 s after the asks, answered when a worker came free


def test_concurrent_writers_and_readers_all_succeed(
    mk_server: MemoryKernelServer, mk_release: str
) -> None:
    failures: list[str] = []

    def work(worker: int) -> None:
        with httpx.Client(base_url=mk_server.url, timeout=15.0) as client:
            for _ in range(5):
                for response in (
                    client.post("/v1/memory/add/constraint", json=mk_constraint_body()),
                    client.post("/v1/query/ask", json=mk_ask_body()),
                ):
                    if response.status_code != 200:
                        failures.append(f"worker {worker}: {response.text}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with httpx.Client(base_url=mk_server.url) as client:
        package = ok_data(client.post("/v1/query/ask", json=mk_ask_body()), mk_release)
    assert len(package["selected_items"]) == 30
