"""MemoryKernel's SQLite store: opening, schema status, migrations, records, links, packages.

Each operation opens its own connection, as the real service opens the store per request, so a
database file that is replaced, locked or corrupted under a running service is noticed at once.
Every failure surfaces as `StoreError` carrying SQLite's own text (`unable to open database
file`, `file is not a database`, `database is locked`, `UNIQUE constraint failed: …`): the HTTP
layer classifies errors by that text, exactly as the service does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.contract import LATEST_SCHEMA_VERSION
from runner.reference.memorykernel.model import MemoryRecord, ValidationFailed
from runner.reference.memorykernel.timestamps import Timestamp, parse_rfc3339

BUSY_TIMEOUT_MS = 5000

_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE IF NOT EXISTS memory_records (
            memory_version_id TEXT PRIMARY KEY,
            memory_id TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            record_type TEXT NOT NULL,
            created_at TEXT NOT NULL,
            effective_at TEXT NOT NULL,
            truth_status TEXT NOT NULL,
            authority TEXT NOT NULL,
            confidence REAL,
            writer TEXT NOT NULL,
            justification TEXT NOT NULL,
            source_uri TEXT NOT NULL,
            source_hash TEXT,
            evidence_json TEXT NOT NULL,
            payload_json TEXT NOT NULL,
            UNIQUE (memory_id, version)
        );
        CREATE TABLE IF NOT EXISTS memory_links (
            from_memory_version_id TEXT NOT NULL REFERENCES memory_records(memory_version_id),
            to_memory_version_id TEXT NOT NULL REFERENCES memory_records(memory_version_id),
            relation TEXT NOT NULL CHECK (relation IN ('supersedes', 'contradicts')),
            writer TEXT NOT NULL,
            justification TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (from_memory_version_id, to_memory_version_id, relation)
        );
        CREATE INDEX IF NOT EXISTS memory_records_by_memory_id ON memory_records (memory_id);
    """,
    2: """
        CREATE TABLE IF NOT EXISTS context_packages (
            context_package_id TEXT PRIMARY KEY,
            package_json TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
    """,
}


class StoreError(Exception):
    """A store failure; the message is what the service's error classification reads."""


@dataclass(frozen=True)
class SchemaStatus:
    """`/v1/db/schema-version` data: exactly the four fields the service returns."""

    current_version: int
    target_version: int
    pending_versions: list[int]
    inferred_from_legacy: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "current_version": self.current_version,
            "target_version": self.target_version,
            "pending_versions": list(self.pending_versions),
            "inferred_from_legacy": self.inferred_from_legacy,
        }


class Store:
    """One open connection to the database file at `path`, WAL, foreign keys, 5 s busy timeout."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[Store]:
        """Open (creating the file if missing) and configure; close on exit."""
        try:
            connection = sqlite3.connect(
                str(path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"failed to open sqlite database {path}: {exc}") from exc
        try:
            try:
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                connection.execute("PRAGMA journal_mode = WAL").fetchall()
                connection.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                raise StoreError(f"failed to configure sqlite database {path}: {exc}") from exc
            yield cls(connection)
        finally:
            connection.close()

    # --- schema ---------------------------------------------------------------------------------

    def schema_status(self) -> SchemaStatus:
        """Read the schema version; only creates `schema_migrations` when it is absent."""
        with _sqlite_errors("failed to read schema status"):
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = [row[0] for row in self._db.execute("SELECT version FROM schema_migrations")]
            tables = self._tables()
        if "memory_records" in tables:
            self._check_record_columns()
        inferred = False
        if applied:
            current = max(applied)
        elif "context_packages" in tables and "memory_records" in tables:
            current, inferred = 2, True
        elif "memory_records" in tables:
            current, inferred = 1, True
        else:
            current = 0
        pending = [v for v in range(1, LATEST_SCHEMA_VERSION + 1) if v > current]
        return SchemaStatus(current, LATEST_SCHEMA_VERSION, pending, inferred)

    def migrate(self) -> None:
        """Apply pending migrations; a database newer than this build is refused."""
        status = self.schema_status()
        if status.current_version > LATEST_SCHEMA_VERSION:
            raise StoreError(
                f"unsupported schema version {status.current_version}; "
                f"expected {LATEST_SCHEMA_VERSION}"
            )
        if not status.pending_versions and not status.inferred_from_legacy:
            return
        with self._transaction("failed to apply schema migrations"):
            applied = {row[0] for row in self._db.execute("SELECT version FROM schema_migrations")}
            for version in range(1, LATEST_SCHEMA_VERSION + 1):
                if version in applied:
                    continue
                # Idempotent DDL: on a legacy database it leaves the existing tables alone.
                for statement in _statements(_MIGRATIONS[version]):
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, Timestamp.now().rfc3339()),
                )

    def _tables(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def _check_record_columns(self) -> None:
        with _sqlite_errors("failed to inspect memory_records"):
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(memory_records)")}
        missing = [c for c in ("memory_id", "memory_version_id") if c not in columns]
        if missing:
            raise StoreError(
                "database schema is invalid: memory_records lacks " + ", ".join(missing)
            )

    # --- records and links ----------------------------------------------------------------------

    def write_record(self, record: MemoryRecord) -> None:
        """Validate and insert one version with its lineage links, atomically."""
        try:
            record.validate()
        except ValidationFailed as exc:
            raise StoreError(f"record validation failed: {exc}") from exc
        with self._transaction("failed to write memory record"):
            self._db.execute(
                "INSERT INTO memory_records (memory_version_id, memory_id, version, record_type,"
                " created_at, effective_at, truth_status, authority, confidence, writer,"
                " justification, source_uri, source_hash, evidence_json, payload_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.memory_version_id,
                    record.memory_id,
                    record.version,
                    record.record_type,
                    record.created_at.rfc3339(),
                    record.effective_at.rfc3339(),
                    record.truth_status,
                    record.authority,
                    record.confidence,
                    record.writer,
                    record.justification,
                    record.source_uri,
                    record.source_hash,
                    json.dumps(list(record.evidence)),
                    json.dumps(record.payload),
                ),
            )
            created_at = record.created_at.rfc3339()
            for relation, targets in (
                ("supersedes", record.supersedes),
                ("contradicts", record.contradicts),
            ):
                for target in targets:
                    self._insert_link(
                        record.memory_version_id,
                        target,
                        relation,
                        record.writer,
                        record.justification,
                        created_at,
                    )

    def add_link(
        self, source: str, target: str, relation: str, writer: str, justification: str
    ) -> None:
        """Record a lineage link between two existing versions."""
        for name, value in (("writer", writer), ("justification", justification)):
            if not value.strip():
                raise StoreError(f"link validation failed: {name} must be provided")
        with self._transaction("failed to write memory link"):
            self._insert_link(
                source, target, relation, writer, justification, Timestamp.now().rfc3339()
            )

    def _insert_link(
        self, source: str, target: str, relation: str, writer: str, justification: str, at: str
    ) -> None:
        self._db.execute(
            "INSERT INTO memory_links (from_memory_version_id, to_memory_version_id, relation,"
            " writer, justification, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (source, target, relation, writer, justification, at),
        )

    def list_records(self) -> list[MemoryRecord]:
        """Every stored version, with lineage read back from the links table."""
        with _sqlite_errors("failed to list memory records"):
            links: dict[tuple[str, str], list[str]] = {}
            for source, target, relation in self._db.execute(
                "SELECT from_memory_version_id, to_memory_version_id, relation"
                " FROM memory_links ORDER BY rowid"
            ):
                links.setdefault((source, relation), []).append(target)
            rows = self._db.execute(
                "SELECT memory_version_id, memory_id, version, record_type, created_at,"
                " effective_at, truth_status, authority, confidence, writer, justification,"
                " source_uri, source_hash, evidence_json, payload_json"
                " FROM memory_records ORDER BY rowid"
            ).fetchall()
        return [_record_from_row(row, links) for row in rows]

    # --- context packages -----------------------------------------------------------------------

    def save_context_package(self, package: dict[str, Any]) -> None:
        """Persist a package so `GET /v1/context/{id}` finds it (same id → same package)."""
        with self._transaction("failed to save context package"):
            self._db.execute(
                "INSERT OR REPLACE INTO context_packages (context_package_id, package_json,"
                " created_at) VALUES (?, ?, ?)",
                (package["context_package_id"], json.dumps(package), Timestamp.now().rfc3339()),
            )

    def get_context_package(self, context_package_id: str) -> dict[str, Any] | None:
        with _sqlite_errors("failed to read context package"):
            row = self._db.execute(
                "SELECT package_json FROM context_packages WHERE context_package_id = ?",
                (context_package_id,),
            ).fetchone()
        if row is None:
            return None
        package: dict[str, Any] = json.loads(row[0])
        return package

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        with _sqlite_errors(what):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


@contextmanager
def _sqlite_errors(what: str) -> Iterator[None]:
    """Turn sqlite3 errors into StoreError, keeping SQLite's text after the context."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"{what}: {exc}") from exc


def _statements(script: str) -> Sequence[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _record_from_row(row: Sequence[Any], links: dict[tuple[str, str], list[str]]) -> MemoryRecord:
    version_id = row[0]
    return MemoryRecord(
        memory_version_id=version_id,
        memory_id=row[1],
        version=row[2],
        record_type=row[3],
        created_at=parse_rfc3339(row[4]),
        effective_at=parse_rfc3339(row[5]),
        truth_status=row[6],
        authority=row[7],
        confidence=row[8],
        writer=row[9],
        justification=row[10],
        source_uri=row[11],
        source_hash=row[12],
        evidence=tuple(json.loads(row[13])),
        payload=json.loads(row[14]),
        supersedes=tuple(links.get((version_id, "supersedes"), ())),
        contradicts=tuple(links.get((version_id, "contradicts"), ())),
    )
