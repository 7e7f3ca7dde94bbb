"""MemoryKernel's SQLite store: opening, schema status, migrations, records, links, packages.

Each operation opens its own connection, as the real service opens the store per request, so a
database file that is replaced, locked or corrupted under a running service is noticed at once.
The statements, their order, their transactions and the context each failure gets follow
memory-kernel-store-sqlite, so the layout (`schema`) and the errors (`failures`) are the real
store's: a link written twice is two rows, a context package saved twice is a UNIQUE conflict.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.contract import LATEST_SCHEMA_VERSION
from runner.reference.memorykernel.failures import KernelFailure, bare, context
from runner.reference.memorykernel.model import MemoryRecord, ValidationFailed
from runner.reference.memorykernel.schema import (
    CREATE_SCHEMA_MIGRATIONS,
    MIGRATION_1,
    MIGRATION_2_INDEXES,
    MIGRATION_2_REPLACE,
    MIGRATION_2_STAGING,
    SUMMARY_PAYLOAD_TABLES,
)
from runner.reference.memorykernel.timestamps import (
    Timestamp,
    TimestampParseError,
    UlidError,
    canonical_ulid,
    new_ulid,
    parse_rfc3339,
)

BUSY_TIMEOUT_MS = 5000
_MIGRATING = threading.Lock()

_RECORD_COLUMNS = (
    "memory_id, version, record_type, created_at, effective_at, truth_status, authority,"
    " confidence, writer, justification, source_uri, source_hash, evidence_json"
)
_LIST_RECORDS = (
    f"SELECT memory_version_id, {_RECORD_COLUMNS} FROM memory_records"
    " ORDER BY created_at DESC, memory_id ASC, memory_version_id ASC"
)
_LOAD_CONSTRAINT = (
    "SELECT actor, action, resource, effect, note FROM constraint_payloads"
    " WHERE memory_version_id = ?"
)
_LOAD_LINKS = (
    "SELECT to_memory_version_id FROM memory_links"
    " WHERE from_memory_version_id = ? AND link_type = ? ORDER BY id ASC"
)
_INSERT_LINK = (
    "INSERT INTO memory_links (from_memory_version_id, to_memory_version_id, link_type, writer,"
    " justification, created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_GET_PACKAGE = "SELECT package_json FROM context_packages WHERE context_package_id = ?"


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
        with context(f"failed to open sqlite database at {path}"):
            connection = sqlite3.connect(
                str(path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
                uri=True,  # rusqlite opens with SQLITE_OPEN_URI
            )
        try:
            with context("failed to configure sqlite pragmas"):
                connection.execute("PRAGMA journal_mode = WAL").fetchall()
                connection.execute("PRAGMA foreign_keys = ON")
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            yield cls(connection)
        finally:
            connection.close()

    # --- schema ---------------------------------------------------------------------------------

    def schema_status(self) -> SchemaStatus:
        """Read the schema version; only creates `schema_migrations` when it is absent."""
        with context("failed to apply schema_migrations table"):
            self._db.execute(CREATE_SCHEMA_MIGRATIONS)
        current, inferred = self._effective_schema_version()
        pending = list(range(current + 1, LATEST_SCHEMA_VERSION + 1))
        return SchemaStatus(current, LATEST_SCHEMA_VERSION, pending, inferred)

    def migrate(self) -> None:
        """Apply migrations up to the latest; a database of any other version is refused."""
        with context("failed to apply schema_migrations table"):
            self._db.execute(CREATE_SCHEMA_MIGRATIONS)
        version = self._recorded_version()
        if version < LATEST_SCHEMA_VERSION:
            # The real store checks the layout outside its migration transaction too; there the
            # race with a concurrent first request lasts microseconds, here a GIL switch (5 ms)
            # can sit inside it, so this process migrates one request at a time.
            with _MIGRATING:
                version = self._recorded_version()
                if version == 0:
                    version = self._bootstrap_schema_version()
                if version < 2:
                    self._apply_migration_2()
                    version = self._recorded_version()
        if version != LATEST_SCHEMA_VERSION:
            raise KernelFailure(
                f"unsupported schema version {version}; expected {LATEST_SCHEMA_VERSION}"
            )

    def _effective_schema_version(self) -> tuple[int, bool]:
        recorded = self._recorded_version()
        if recorded > 0:
            return recorded, False
        if not self._table_exists("memory_records"):
            return 0, False
        if self._has_column("memory_records", "memory_version_id"):
            return 2, True
        if self._has_column("memory_records", "memory_id"):
            return 1, True
        raise _invalid_schema()

    def _bootstrap_schema_version(self) -> int:
        if not self._table_exists("memory_records"):
            with context("failed to apply migration v1"):
                for statement in MIGRATION_1:
                    self._db.execute(statement)
            self._record_version(1)
            return 1
        if self._has_column("memory_records", "memory_version_id"):
            self._record_version(1)
            self._record_version(2)
            return 2
        if self._has_column("memory_records", "memory_id"):
            self._record_version(1)
            return 1
        raise _invalid_schema()

    def _apply_migration_2(self) -> None:
        if self._has_column("memory_records", "memory_version_id"):
            self._record_version(2)
            return
        if not self._has_column("memory_records", "memory_id"):
            raise KernelFailure(
                "cannot apply migration v2: legacy memory_records.memory_id column is missing"
            )
        with self._transaction(
            "failed to start migration v2 transaction", "failed to commit migration v2"
        ):
            with context("failed to create v2 staging tables"):
                for statement in MIGRATION_2_STAGING:
                    self._db.execute(statement)
            version_ids = self._copy_records_to_v2()
            self._copy_payloads_to_v2(version_ids)
            self._copy_links_to_v2(version_ids)
            with context("failed to replace legacy tables with v2 tables"):
                for statement in MIGRATION_2_REPLACE:
                    self._db.execute(statement)
            with context("failed to create v2 indexes"):
                for statement in MIGRATION_2_INDEXES:
                    self._db.execute(statement)
            with context("failed to record migration version 2"):
                self._db.execute(
                    "INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (2, Timestamp.now().rfc3339()),
                )

    def _copy_records_to_v2(self) -> dict[str, str]:
        select = f"SELECT {_RECORD_COLUMNS} FROM memory_records ORDER BY memory_id ASC"
        with bare(select):
            rows = self._db.execute(select).fetchall()
        version_ids: dict[str, str] = {}
        for row in rows:
            version_id = new_ulid()
            with context("failed to copy memory_records row into v2"):
                self._db.execute(
                    f"INSERT INTO memory_records_v2 (memory_version_id, {_RECORD_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (version_id, *row),
                )
            version_ids[row[0]] = version_id
        return version_ids

    def _copy_payloads_to_v2(self, version_ids: dict[str, str]) -> None:
        select = "SELECT memory_id, actor, action, resource, effect, note FROM constraint_payloads"
        with bare(select):
            rows = self._db.execute(select).fetchall()
        for memory_id, *fields in rows:
            with context("failed to copy constraint payload into v2"):
                self._db.execute(
                    "INSERT INTO constraint_payloads_v2 (memory_version_id, actor, action,"
                    " resource, effect, note) VALUES (?, ?, ?, ?, ?, ?)",
                    (_mapped(version_ids, memory_id), *fields),
                )
        for table in SUMMARY_PAYLOAD_TABLES.values():
            select = f"SELECT memory_id, summary FROM {table}"
            with bare(select):
                rows = self._db.execute(select).fetchall()
            for memory_id, summary in rows:
                with context(f"failed to copy payload row into {table}_v2"):
                    self._db.execute(
                        f"INSERT INTO {table}_v2 (memory_version_id, summary) VALUES (?, ?)",
                        (_mapped(version_ids, memory_id), summary),
                    )

    def _copy_links_to_v2(self, version_ids: dict[str, str]) -> None:
        select = (
            "SELECT from_memory_id, to_memory_id, link_type, writer, justification, created_at"
            " FROM memory_links ORDER BY id ASC"
        )
        with bare(select):
            rows = self._db.execute(select).fetchall()
        for source, target, *fields in rows:
            with context("failed to copy memory link into v2"):
                self._db.execute(
                    "INSERT INTO memory_links_v2 (from_memory_version_id, to_memory_version_id,"
                    " link_type, writer, justification, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (_mapped(version_ids, source), _mapped(version_ids, target), *fields),
                )

    def _recorded_version(self) -> int:
        with context("failed to read current schema version"):
            row = self._db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            version: int = row.fetchone()[0]
        return version

    def _record_version(self, version: int) -> None:
        with context(f"failed to record migration version {version}"):
            self._db.execute(
                "INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version, Timestamp.now().rfc3339()),
            )

    def _table_exists(self, table: str) -> bool:
        with context(f"failed to check if table exists: {table}"):
            row = self._db.execute(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
                (table,),
            ).fetchone()
        return bool(row[0] == 1)

    def _has_column(self, table: str, column: str) -> bool:
        if not self._table_exists(table):
            return False
        with context(f"failed to inspect table_info for {table}"):
            names = [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]
        return column in names

    # --- records and links ----------------------------------------------------------------------

    def write_record(self, record: MemoryRecord) -> None:
        """Validate and insert one version with its payload and lineage links, atomically."""
        try:
            record.validate()
        except ValidationFailed as exc:
            raise KernelFailure(f"record validation failed: {exc}") from exc
        version_id = record.memory_version_id
        with self._transaction("failed to start transaction", "failed to commit write transaction"):
            with context("failed to insert memory record"):
                self._db.execute(
                    f"INSERT INTO memory_records (memory_version_id, {_RECORD_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        version_id,
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
                        json.dumps(
                            list(record.evidence), ensure_ascii=False, separators=(",", ":")
                        ),
                    ),
                )
            self._insert_payload(record)
            for relation, targets in (
                ("supersedes", record.supersedes),
                ("contradicts", record.contradicts),
            ):
                created_at = Timestamp.now().rfc3339()
                for target in targets:
                    with context("failed to insert memory link"):
                        self._db.execute(
                            _INSERT_LINK,
                            (
                                version_id,
                                target,
                                relation,
                                record.writer,
                                record.justification,
                                created_at,
                            ),
                        )

    def _insert_payload(self, record: MemoryRecord) -> None:
        payload = record.payload
        if record.record_type == "constraint":
            scope = payload["scope"]
            with context("failed to insert constraint payload"):
                self._db.execute(
                    "INSERT INTO constraint_payloads (memory_version_id, actor, action, resource,"
                    " effect, note) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.memory_version_id,
                        scope["actor"],
                        scope["action"],
                        scope["resource"],
                        payload["effect"],
                        payload["note"],
                    ),
                )
            return
        table = SUMMARY_PAYLOAD_TABLES[record.record_type]
        with context(f"failed to insert {record.record_type} payload"):
            self._db.execute(
                f"INSERT INTO {table} (memory_version_id, summary) VALUES (?, ?)",
                (record.memory_version_id, payload["summary"]),
            )

    def add_link(
        self, source: str, target: str, relation: str, writer: str, justification: str
    ) -> None:
        """Record one lineage link; the same link written twice is two rows, as in the real store."""
        if not writer.strip():
            raise KernelFailure("writer MUST be provided for every link write")
        if not justification.strip():
            raise KernelFailure("justification MUST be provided for every link write")
        with (
            self._transaction("failed to start transaction", "failed to commit link transaction"),
            context("failed to insert memory link"),
        ):
            self._db.execute(
                _INSERT_LINK,
                (source, target, relation, writer, justification, Timestamp.now().rfc3339()),
            )

    def list_records(self) -> list[MemoryRecord]:
        """Every stored version with its payload and lineage, newest first."""
        with bare(_LIST_RECORDS):
            rows = self._db.execute(_LIST_RECORDS).fetchall()
        return [self._record_from_row(row) for row in rows]

    def _record_from_row(self, row: Sequence[Any]) -> MemoryRecord:
        version_id = _parse_ulid(row[0])
        record_type = row[3]
        if record_type != "constraint" and record_type not in SUMMARY_PAYLOAD_TABLES:
            raise KernelFailure(f"unknown record_type: {record_type}")
        payload = self._load_payload(version_id, record_type)
        supersedes = self._load_links(version_id, "supersedes")
        contradicts = self._load_links(version_id, "contradicts")
        truth_status, authority = row[6], row[7]
        if truth_status not in ("asserted", "observed", "inferred", "speculative", "retracted"):
            raise KernelFailure(f"unknown truth_status: {truth_status}")
        if authority not in ("authoritative", "derived", "note"):
            raise KernelFailure(f"unknown authority: {authority}")
        try:
            evidence = json.loads(row[13])
        except ValueError as exc:
            raise KernelFailure("failed to deserialize evidence", (str(exc),)) from exc
        return MemoryRecord(
            memory_version_id=version_id,
            memory_id=_parse_ulid(row[1]),
            version=row[2],
            created_at=_parse_timestamp(row[4]),
            effective_at=_parse_timestamp(row[5]),
            truth_status=truth_status,
            authority=authority,
            confidence=row[8],
            writer=row[9],
            justification=row[10],
            source_uri=row[11],
            source_hash=row[12],
            evidence=tuple(evidence),
            supersedes=supersedes,
            contradicts=contradicts,
            record_type=record_type,
            payload=payload,
        )

    def _load_payload(self, version_id: str, record_type: str) -> dict[str, Any]:
        if record_type == "constraint":
            with bare(_LOAD_CONSTRAINT):
                row = self._db.execute(_LOAD_CONSTRAINT, (version_id,)).fetchone()
            if row is None:
                raise KernelFailure(f"missing constraint payload for {version_id}")
            actor, action, resource, effect, note = row
            if effect not in ("allow", "deny"):
                raise KernelFailure(
                    "Conversion error from type Text at index: 3, "
                    f"validation error: invalid constraint effect: {effect}"
                )
            scope = {"actor": actor, "action": action, "resource": resource}
            return {"scope": scope, "effect": effect, "note": note}
        table = SUMMARY_PAYLOAD_TABLES[record_type]
        select = f"SELECT summary FROM {table} WHERE memory_version_id = ?"
        with bare(select):
            row = self._db.execute(select, (version_id,)).fetchone()
        if row is None:
            raise KernelFailure(f"missing payload in {table} for {version_id}")
        return {"summary": row[0]}

    def _load_links(self, version_id: str, relation: str) -> tuple[str, ...]:
        with bare(_LOAD_LINKS):
            rows = self._db.execute(_LOAD_LINKS, (version_id, relation)).fetchall()
        targets = []
        for (raw,) in rows:
            try:
                targets.append(canonical_ulid(raw))
            except UlidError as exc:
                raise KernelFailure(
                    f"Conversion error from type Text at index: 0, invalid ULID in link row: {raw}"
                ) from exc
        return tuple(targets)

    # --- context packages -----------------------------------------------------------------------

    def save_context_package(self, package: dict[str, Any]) -> None:
        """Persist a package; the same id twice is a UNIQUE conflict (409), as in the real store."""
        document = json.dumps(package, ensure_ascii=False, separators=(",", ":"))
        with (
            self._transaction(
                "failed to start transaction", "failed to commit context package transaction"
            ),
            context("failed to persist context package"),
        ):
            self._db.execute(
                "INSERT INTO context_packages (context_package_id, generated_at, package_json)"
                " VALUES (?, ?, ?)",
                (package["context_package_id"], package["generated_at"], document),
            )

    def get_context_package(self, context_package_id: str) -> dict[str, Any] | None:
        """The stored package, or None."""
        with bare(_GET_PACKAGE):
            row = self._db.execute(_GET_PACKAGE, (context_package_id,)).fetchone()
        if row is None:
            return None
        try:
            package: dict[str, Any] = json.loads(row[0])
        except ValueError as exc:
            raise KernelFailure(
                "failed to deserialize stored context package", (str(exc),)
            ) from exc
        return package

    @contextmanager
    def _transaction(self, begin_failure: str, commit_failure: str) -> Iterator[None]:
        """rusqlite's `transaction()`: BEGIN DEFERRED, COMMIT, rolled back when dropped on error."""
        with context(begin_failure):
            self._db.execute("BEGIN DEFERRED")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        with context(commit_failure):
            self._db.execute("COMMIT")


def _invalid_schema() -> KernelFailure:
    return KernelFailure(
        "database schema is invalid: memory_records has neither memory_id nor memory_version_id"
    )


def _mapped(version_ids: dict[str, str], memory_id: str) -> str:
    try:
        return version_ids[memory_id]
    except KeyError:
        raise KernelFailure(
            f"migration mapping missing memory_version_id for legacy memory_id {memory_id}"
        ) from None


def _parse_ulid(raw: str) -> str:
    try:
        return canonical_ulid(raw)
    except UlidError as exc:
        raise KernelFailure(f"invalid ULID: {raw}", (str(exc),)) from exc


def _parse_timestamp(raw: str) -> Timestamp:
    try:
        return parse_rfc3339(raw)
    except TimestampParseError as exc:
        raise KernelFailure(f"invalid RFC3339 timestamp: {raw}", (str(exc),)) from exc
