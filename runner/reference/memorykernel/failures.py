"""Errors as MemoryKernel's crates build them: anyhow contexts over rusqlite's SQLite errors.

The service answers with an error's outermost message (`err.to_string()`: "failed to insert
memory record") but classifies it by the whole chain (`{err:#}`: "failed to insert memory
record: UNIQUE constraint failed: …: Error code 2067: A UNIQUE constraint failed"). So a
`KernelFailure` keeps both: `str()` is the message, `diagnostic` the chain. SQLite errors are
rendered as rusqlite 0.31 renders them (its message, then libsqlite3-sys's `Error code N:
<description>` as the source), which is why any plain SQLite error (code 1, "SQL error or
missing database") classifies as `schema_unavailable`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

# libsqlite3-sys 0.28 `code_to_str`, for the codes a store operation can meet.
_CODE_TEXT = {
    1: "SQL error or missing database",
    2: "Internal logic error in SQLite",
    3: "Access permission denied",
    4: "Callback routine requested an abort",
    5: "The database file is locked",
    6: "A table in the database is locked",
    7: "A malloc() failed",
    8: "Attempt to write a readonly database",
    9: "Operation terminated by sqlite3_interrupt()",
    10: "Some kind of disk I/O error occurred",
    11: "The database disk image is malformed",
    13: "Insertion failed because database is full",
    14: "Unable to open the database file",
    15: "Database lock protocol error",
    17: "The database schema changed",
    18: "String or BLOB exceeds size limit",
    19: "Abort due to constraint violation",
    20: "Data type mismatch",
    21: "Library used incorrectly",
    23: "Authorization denied",
    25: "2nd parameter to sqlite3_bind out of range",
    26: "File opened that is not a database file",
    261: "Another process is recovering a WAL mode database file",
    262: "Locking conflict due to another connection with a shared cache",
    517: "Cannot promote read transaction to write transaction because of writes by another connection",
    1038: "Attempted to open directory as file",
    275: "A CHECK constraint failed",
    787: "Foreign key constraint failed",
    1299: "A NOT NULL constraint failed",
    1555: "A PRIMARY KEY constraint failed",
    2067: "A UNIQUE constraint failed",
    2579: "A non-unique rowid occurred",
}
_SQLITE_ERROR = 1
# SQLite points its error offset at the offending name for these prepare-time messages.
_NAMED_INPUT_ERROR = re.compile(r"^no such (?:column|table|index): (?P<name>\S+)$")


class KernelFailure(Exception):
    """An `anyhow::Error`: the outermost message, and the causes under it."""

    def __init__(self, message: str, causes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.causes = causes

    def __str__(self) -> str:
        return self.message

    @property
    def diagnostic(self) -> str:
        """`format!("{err:#}")`: every message of the chain joined by ": "."""
        return ": ".join((self.message, *self.causes))

    def context(self, message: str) -> KernelFailure:
        """`.context(message)`: a new outermost message over this whole chain."""
        return KernelFailure(message, (self.message, *self.causes))


def sqlite_failure(exc: sqlite3.Error, sql: str | None = None) -> KernelFailure:
    """A SQLite error as rusqlite reports it (a prepare error names its SQL and offset)."""
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return KernelFailure(text)
    named = _NAMED_INPUT_ERROR.match(text)
    if code == _SQLITE_ERROR and sql is not None and named is not None:
        offset = _word_offset(sql, named.group("name").split(".")[-1])
        if offset >= 0:
            text = f"{text} in {sql} at offset {offset}"
    description = _CODE_TEXT.get(code) or _CODE_TEXT.get(code & 0xFF, "Unknown error code")
    return KernelFailure(text, (f"Error code {code}: {description}",))


def _word_offset(sql: str, name: str) -> int:
    match = re.search(rf"\b{re.escape(name)}\b", sql)
    return match.start() if match else -1


@contextmanager
def context(message: str, sql: str | None = None) -> Iterator[None]:
    """`.context(message)` for every SQLite error or KernelFailure raised inside the block."""
    try:
        yield
    except sqlite3.Error as exc:
        raise sqlite_failure(exc, sql).context(message) from exc
    except KernelFailure as exc:
        raise exc.context(message) from exc


@contextmanager
def bare(sql: str | None = None) -> Iterator[None]:
    """`?` on a rusqlite call without context: the SQLite error is the outermost message."""
    try:
        yield
    except sqlite3.Error as exc:
        raise sqlite_failure(exc, sql) from exc
