"""MemoryKernel's SQLite layout (memory-kernel-store-sqlite): migration 1, and migration 2's tables.

A fresh database gets migration 1's layout (records keyed by `memory_id`), which migration 2
rebuilds keyed by `memory_version_id` and renames into place, as the real store does; so the
reference and the real binaries open each other's databases. `context_packages` keeps its
migration 1 shape.
"""

from __future__ import annotations

from collections.abc import Sequence

_RECORD_TYPES = "'constraint','decision','preference','event','outcome'"
_TRUTH_STATUSES = "'asserted','observed','inferred','speculative','retracted'"
_AUTHORITIES = "'authoritative','derived','note'"
SUMMARY_PAYLOAD_TABLES = {
    "decision": "decision_payloads",
    "preference": "preference_payloads",
    "event": "event_payloads",
    "outcome": "outcome_payloads",
}

CREATE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)


def _record_columns(key: str) -> str:
    return (
        f"{key},"
        " version INTEGER NOT NULL CHECK (version >= 1),"
        f" record_type TEXT NOT NULL CHECK (record_type IN ({_RECORD_TYPES})),"
        " created_at TEXT NOT NULL,"
        " effective_at TEXT NOT NULL,"
        f" truth_status TEXT NOT NULL CHECK (truth_status IN ({_TRUTH_STATUSES})),"
        f" authority TEXT NOT NULL CHECK (authority IN ({_AUTHORITIES})),"
        " confidence REAL,"
        " writer TEXT NOT NULL,"
        " justification TEXT NOT NULL,"
        " source_uri TEXT NOT NULL,"
        " source_hash TEXT,"
        " evidence_json TEXT NOT NULL"
    )


def _links(table: str, from_column: str, to_column: str, parent: str, key: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        f" {from_column} TEXT NOT NULL,"
        f" {to_column} TEXT NOT NULL,"
        " link_type TEXT NOT NULL CHECK (link_type IN ('supersedes','contradicts')),"
        " writer TEXT NOT NULL,"
        " justification TEXT NOT NULL,"
        " created_at TEXT NOT NULL,"
        f" FOREIGN KEY ({from_column}) REFERENCES {parent}({key}),"
        f" FOREIGN KEY ({to_column}) REFERENCES {parent}({key}))"
    )


def _payloads(suffix: str, key: str, parent: str) -> list[str]:
    reference = f"FOREIGN KEY ({key}) REFERENCES {parent}({key})"
    tables = [
        f"CREATE TABLE IF NOT EXISTS constraint_payloads{suffix} ("
        f" {key} TEXT PRIMARY KEY, actor TEXT NOT NULL, action TEXT NOT NULL,"
        " resource TEXT NOT NULL, effect TEXT NOT NULL CHECK (effect IN ('allow','deny')),"
        f" note TEXT, {reference})"
    ]
    tables += [
        f"CREATE TABLE IF NOT EXISTS {table}{suffix} ("
        f" {key} TEXT PRIMARY KEY, summary TEXT NOT NULL, {reference})"
        for table in SUMMARY_PAYLOAD_TABLES.values()
    ]
    return tables


MIGRATION_1: Sequence[str] = (
    "CREATE TABLE IF NOT EXISTS memory_records ("
    + _record_columns("memory_id TEXT PRIMARY KEY")
    + ")",
    _links("memory_links", "from_memory_id", "to_memory_id", "memory_records", "memory_id"),
    "CREATE TABLE IF NOT EXISTS context_packages ("
    " context_package_id TEXT PRIMARY KEY, generated_at TEXT NOT NULL,"
    " package_json TEXT NOT NULL)",
    *_payloads("", "memory_id", "memory_records"),
    "CREATE INDEX IF NOT EXISTS idx_memory_records_type ON memory_records(record_type)",
    "CREATE INDEX IF NOT EXISTS idx_memory_records_effective_at ON memory_records(effective_at)",
    "CREATE INDEX IF NOT EXISTS idx_memory_links_from ON memory_links(from_memory_id)",
    "CREATE INDEX IF NOT EXISTS idx_memory_links_to ON memory_links(to_memory_id)",
)

MIGRATION_2_STAGING: Sequence[str] = (
    "CREATE TABLE IF NOT EXISTS memory_records_v2 ("
    + _record_columns("memory_version_id TEXT PRIMARY KEY, memory_id TEXT NOT NULL")
    + ", UNIQUE(memory_id, version))",
    _links(
        "memory_links_v2",
        "from_memory_version_id",
        "to_memory_version_id",
        "memory_records_v2",
        "memory_version_id",
    ),
    *_payloads("_v2", "memory_version_id", "memory_records_v2"),
)

_REBUILT = (
    "memory_records",
    "memory_links",
    "constraint_payloads",
    *SUMMARY_PAYLOAD_TABLES.values(),
)

# Children first, so no drop trips a foreign key; then the staging tables take the names.
MIGRATION_2_REPLACE: Sequence[str] = (
    *(f"DROP TABLE {table}" for table in reversed(_REBUILT)),
    *(f"ALTER TABLE {table}_v2 RENAME TO {table}" for table in _REBUILT),
)

MIGRATION_2_INDEXES: Sequence[str] = (
    "CREATE INDEX IF NOT EXISTS idx_memory_records_type ON memory_records(record_type)",
    "CREATE INDEX IF NOT EXISTS idx_memory_records_memory_id ON memory_records(memory_id)",
    "CREATE INDEX IF NOT EXISTS idx_memory_records_effective_at ON memory_records(effective_at)",
    "CREATE INDEX IF NOT EXISTS idx_memory_links_from ON memory_links(from_memory_version_id)",
    "CREATE INDEX IF NOT EXISTS idx_memory_links_to ON memory_links(to_memory_version_id)",
)
