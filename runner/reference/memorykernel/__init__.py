"""Reference MemoryKernel: the service of releases v0.3.2 (service.v2) and v0.4.0 (service.v3).

Copies `memory-kernel-service` at those tags (saagar210/MemoryKernel): routes, envelopes, error
classification, request decoding with axum's rejection texts, SQLite store and ordering. Modules:
server (lifecycle, command line), transport (HTTP/1.1), app (routes and envelopes), api (the
operations and error classification), store (SQLite), query (ordering), json_body and
json_reader (serde-style decoding), requests (request types), model (records), openapi,
timestamps (RFC 3339 and ULIDs).

Command line as the real binary's: `--db PATH --bind IP:PORT` (default 127.0.0.1:4010), plus
`--release TAG` (the real binary is one per release); nothing is printed at start-up, readiness
is `GET /v1/health`; the database is opened per request, so a bad `--db` never stops it starting.
Listen backlog 1024 (tokio's): bursts of 40-60 connections are queued, not reset.

Known differences from the real service, measured against the v0.3.2 and v0.4.0 binaries, not yet
removed (each is a row of the reference-vs-real comparison; none changes a drill's verdict):
- ask/recall repeated with the same fixed `as_of` on an unchanged database: real 409
  `write_conflict` ("failed to persist context package"), reference 200 (it replaces the package).
- the same link written twice: real 200 (a duplicate row), reference 409.
- 409/400/503 messages: real carries the outermost text only ("failed to insert memory record"),
  reference the whole cause chain.
- database layout: the reference's schema version 2 is its own (no payload tables, no
  `memory_links.id`); neither opens a database the other made.
- a `memory_records` table without id columns: real schema-version 200, context 404, ask 503;
  reference 503 everywhere.
- a database locked by another writer: the real service blocks its two worker threads (health
  ~4.5 s, asks end at 5 s and 10 s); the reference answers health at once and asks 503 at 5 s.
- `GET /v1/openapi`: the real service serves the producer's full document, the reference a shorter one.
- HTTP/1.0, a garbage request line, 413: real 400 with an empty body (HTTP/1.0 answered as 1.0,
  413 keeps the connection); reference an HTML page for a garbage line and `connection: close`.
"""

from runner.reference.memorykernel.server import MemoryKernelServer, release_for, serve

__all__ = ["MemoryKernelServer", "release_for", "serve"]
