"""The request sequences run against the real MemoryKernel and the reference alike.

Each scenario takes a fresh `Side` and returns {case name: observation}; the test compares the
two sides case by case. Scenarios: the routes and their validation, the transport (raw bytes),
database states (unusable files, a future schema row, a table without id columns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.conformance.memorykernel_side import Side, observe
from tests.reference.conftest import mk_ask_body as ask
from tests.reference.conftest import mk_constraint_body as constraint
from tests.reference.conftest import mk_summary_body

Observations = dict[str, Any]
FIXED = "2026-01-01T00:00:00Z"


def summary(record_type: str = "decision", **overrides: Any) -> dict[str, Any]:
    return mk_summary_body(record_type=record_type, **overrides)


def recall(**overrides: Any) -> dict[str, Any]:
    return {"text": "usb approval", "record_types": [], "as_of": None, **overrides}


def _post_raw(side: Side, path: str, body: bytes, content_type: str | None) -> Any:
    headers = {} if content_type is None else {"content-type": content_type}
    return side.client.post(path, content=body, headers=headers)


def routes(side: Side) -> Observations:
    """Every route with good and bad requests, in one database."""
    c, seen = side.client, {}

    def see(name: str, response: Any) -> Any:
        seen[name] = observe(response, side.db)
        return response

    see("health", c.get("/v1/health"))
    see("health HEAD", c.head("/v1/health"))
    openapi = c.get("/v1/openapi")
    seen["openapi"] = {**observe(openapi, side.db), "bytes": openapi.content}
    see("schema-version fresh", c.post("/v1/db/schema-version"))
    # On its own connection: a body the route never reads, arriving after the answer, makes the
    # real service close the connection (hyper drains only what is already there).
    see(
        "schema-version with a body",
        httpx.post(side.url + "/v1/db/schema-version", content=b"junk"),
    )
    see("migrate dry run", c.post("/v1/db/migrate", json={"dry_run": True}))
    see("migrate without dry_run", c.post("/v1/db/migrate", json={}))
    see("migrate dry_run a string", c.post("/v1/db/migrate", json={"dry_run": "yes"}))
    see("migrate no content type", _post_raw(side, "/v1/db/migrate", b'{"dry_run":true}', None))
    see("migrate", c.post("/v1/db/migrate", json={"dry_run": False}))
    see("schema-version migrated", c.post("/v1/db/schema-version"))
    see("migrate again", c.post("/v1/db/migrate", json={"dry_run": False}))
    first = see("add constraint", c.post("/v1/memory/add/constraint", json=constraint()))
    fixed = constraint(memory_id="01JMKDR1FT5EED0C0NSTRA1NT0")
    see("add with memory_id", c.post("/v1/memory/add/constraint", json=fixed))
    see("add same memory_id", c.post("/v1/memory/add/constraint", json=fixed))
    see(
        "add memory_id version 2", c.post("/v1/memory/add/constraint", json={**fixed, "version": 2})
    )
    for name, bad in (
        ("writer empty", {"writer": ""}),
        ("justification blank", {"justification": "  "}),
        ("source_uri empty", {"source_uri": ""}),
        ("source_hash not sha256", {"source_hash": "md5:1"}),
        ("confidence 1.5", {"confidence": 1.5}),
        ("inferred without confidence", {"truth_status": "inferred", "confidence": None}),
        ("version 0", {"version": 0}),
        ("actor empty", {"actor": ""}),
        ("effect unknown", {"effect": "maybe"}),
        ("truth_status unknown", {"truth_status": "rumour"}),
        ("version negative", {"version": -1}),
        ("created_at not a time", {"created_at": "yesterday"}),
        ("created_at with offset", {"created_at": "2026-01-01T02:00:00+02:00"}),
        ("supersedes unknown", {"supersedes": ["01JMKDR1FT5EED0DEC1S10N000"]}),
        ("supersedes not a ulid", {"supersedes": ["nope"]}),
        ("evidence not a list", {"evidence": "e"}),
    ):
        see(f"add {name}", c.post("/v1/memory/add/constraint", json=constraint(**bad)))
    missing = constraint()
    del missing["created_at"]
    see("add without created_at", c.post("/v1/memory/add/constraint", json=missing))
    older = first.json()["data"]["memory_version_id"]
    newer = see(
        "add superseding",
        c.post("/v1/memory/add/constraint", json=constraint(effect="allow", supersedes=[older])),
    ).json()["data"]["memory_version_id"]
    for record_type in ("decision", "preference", "event", "outcome", "constraint", "rumour"):
        see(
            f"add summary {record_type}",
            c.post("/v1/memory/add/summary", json=summary(record_type)),
        )
    link = {
        "from": newer,
        "to": older,
        "relation": "contradicts",
        "writer": "w",
        "justification": "j",
    }
    see("link", c.post("/v1/memory/link", json=link))
    see("link twice", c.post("/v1/memory/link", json=link))
    see(
        "link unknown", c.post("/v1/memory/link", json={**link, "to": "01JMKDR1FT5EED0DEC1S10N000"})
    )
    see("link writer blank", c.post("/v1/memory/link", json={**link, "writer": " "}))
    see("link justification empty", c.post("/v1/memory/link", json={**link, "justification": ""}))
    see("link relation unknown", c.post("/v1/memory/link", json={**link, "relation": "likes"}))
    see("ask", c.post("/v1/query/ask", json=ask()))
    package = see("ask fixed as_of", c.post("/v1/query/ask", json=ask(as_of=FIXED)))
    see("ask fixed as_of again", c.post("/v1/query/ask", json=ask(as_of=FIXED)))
    no_as_of = ask()
    del no_as_of["as_of"]
    see("ask without as_of (shipped body)", c.post("/v1/query/ask", json=no_as_of))
    see("ask as_of a number", c.post("/v1/query/ask", json=ask(as_of=5)))
    see("ask as_of not a time", c.post("/v1/query/ask", json=ask(as_of="soon")))
    see("ask extra field", c.post("/v1/query/ask", json=ask(extra=1)))
    see("ask text a number", c.post("/v1/query/ask", json=ask(text=1)))
    see("ask other scope", c.post("/v1/query/ask", json=ask(actor="admin")))
    see("recall", c.post("/v1/query/recall", json=recall()))
    see("recall fixed as_of", c.post("/v1/query/recall", json=recall(as_of=FIXED)))
    see("recall fixed as_of again", c.post("/v1/query/recall", json=recall(as_of=FIXED)))
    see("recall constraints", c.post("/v1/query/recall", json=recall(record_types=["constraint"])))
    see("recall empty text", c.post("/v1/query/recall", json=recall(text=" ")))
    see("recall punctuation only", c.post("/v1/query/recall", json=recall(text="?! .")))
    see("recall type unknown", c.post("/v1/query/recall", json=recall(record_types=["x"])))
    package_id = package.json()["data"]["context_package_id"]
    see("context", c.get(f"/v1/context/{package_id}"))
    see("context missing", c.get("/v1/context/cpkg_missing"))
    see("context percent-encoded", c.get("/v1/context/a%2Fb"))
    see("context empty id", c.get("/v1/context/"))
    for name, body, content_type in (
        ("syntax error", b'{"text" 1}', "application/json"),
        ("empty body", b"", "application/json"),
        ("trailing characters", b'{"dry_run":true} x', "application/json"),
        ("text/plain", b'{"dry_run":true}', "text/plain"),
        ("+json content type", b'{"dry_run":true}', "application/vnd.mk+json"),
        ("array body", b"[]", "application/json"),
        (
            "over 2 MiB",
            b'{"dry_run":true,"p":"' + b"x" * (2 * 1024 * 1024) + b'"}',
            "application/json",
        ),
    ):
        see(f"migrate {name}", _post_raw(side, "/v1/db/migrate", body, content_type))
    see("unknown path", c.get("/v1/nope"))
    see("POST health", c.post("/v1/health"))
    see("GET schema-version", c.get("/v1/db/schema-version"))
    see("OPTIONS ask", c.options("/v1/query/ask"))
    return seen


_BIG = b"x" * (2 * 1024 * 1024 + 10)
RAW_REQUESTS: dict[str, bytes] = {
    "HTTP/1.0": b"GET /v1/health HTTP/1.0\r\n\r\n",
    "HTTP/1.0 keep-alive": b"GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "connection close": b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "no host": b"GET /v1/health HTTP/1.1\r\n\r\n",
    "garbage line": b"GARBAGE\r\n\r\n",
    "four words": b"HELLO WORLD FOO BAR\r\n\r\n",
    "HTTP/0.9": b"GET /v1/health\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "header without colon": b"GET /v1/health HTTP/1.1\r\nHost x\r\n\r\n",
    "lower-case method": b"get /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute target": b"GET http://x/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "query string": b"GET /v1/health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "double slash": b"GET //v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "trailing slash": b"GET /v1/health/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad content-length": b"POST /v1/query/ask HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "two content-lengths": b"POST /v1/db/migrate HTTP/1.1\r\nHost: x\r\n"
    b"content-type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "chunked": b"POST /v1/db/migrate HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    b'Transfer-Encoding: chunked\r\n\r\n10\r\n{"dry_run":true}\r\n0\r\n\r\n',
    "broken chunk": b"POST /v1/db/migrate HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    "expect 100-continue": b"POST /v1/db/migrate HTTP/1.1\r\nHost: x\r\n"
    b"content-type: application/json\r\nExpect: 100-continue\r\nContent-Length: 16\r\n\r\n"
    b'{"dry_run":true}',
    "413 then a request": b"POST /v1/query/ask HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(_BIG)}\r\n\r\n".encode()
    + _BIG
    + b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
}


def transport(side: Side) -> Observations:
    """Raw requests: the bytes of each answer, the date masked."""
    side.client.post("/v1/db/migrate", json={"dry_run": False})
    return {name: side.raw(data) for name, data in RAW_REQUESTS.items()}


def _calls(side: Side) -> Observations:
    c = side.client
    return {
        "health": observe(c.get("/v1/health"), side.db),
        "schema-version": observe(c.post("/v1/db/schema-version"), side.db),
        "migrate": observe(c.post("/v1/db/migrate", json={"dry_run": False}), side.db),
        "context": observe(c.get("/v1/context/cpkg_missing"), side.db),
        "ask": observe(c.post("/v1/query/ask", json=ask()), side.db),
        "recall": observe(c.post("/v1/query/recall", json=recall()), side.db),
        "add": observe(c.post("/v1/memory/add/constraint", json=constraint()), side.db),
    }


def _sql(db: Path, script: str) -> None:
    with closing(sqlite3.connect(db)) as connection:
        connection.executescript(script)


Prepare = Callable[[Path], Path]
Arrange = Callable[[Side], None]


def _migrated_then(script: str) -> Arrange:
    def arrange(side: Side) -> None:
        side.client.post("/v1/db/migrate", json={"dry_run": False})
        _sql(side.db, script)

    return arrange


def _directory(folder: Path) -> Path:
    (folder / "db.sqlite3").mkdir()
    return folder / "db.sqlite3"


def _missing_parent(folder: Path) -> Path:
    return folder / "no-such" / "db.sqlite3"


def _not_sqlite(folder: Path) -> Path:
    (folder / "db.sqlite3").write_bytes(b"garbage\n" * 512)
    return folder / "db.sqlite3"


def _fresh(folder: Path) -> Path:
    return folder / "db.sqlite3"


def _unmigrated_without_ids(folder: Path) -> Path:
    _sql(folder / "db.sqlite3", "CREATE TABLE memory_records (x TEXT);")
    return folder / "db.sqlite3"


# name -> (the database path, prepared in the side's folder; what to do once it runs)
DATABASE_STATES: dict[str, tuple[Prepare, Arrange | None]] = {
    "a directory": (_directory, None),
    "a missing parent": (_missing_parent, None),
    "not sqlite": (_not_sqlite, None),
    "a future schema row": (
        _fresh,
        _migrated_then("INSERT INTO schema_migrations (version, applied_at) VALUES (3, 'x');"),
    ),
    "records without id columns": (
        _fresh,
        _migrated_then(
            "PRAGMA foreign_keys = OFF; DROP TABLE memory_records;"
            " CREATE TABLE memory_records (x TEXT);"
        ),
    ),
    "unmigrated records without id columns": (_unmigrated_without_ids, None),
}


def database_state(name: str) -> tuple[Prepare, Callable[[Side], Observations]]:
    """(prepare the database path, the calls to observe) for one database state."""
    prepare, arrange = DATABASE_STATES[name]

    def run(side: Side) -> Observations:
        if arrange is not None:
            arrange(side)
        return _calls(side)

    return prepare, run
