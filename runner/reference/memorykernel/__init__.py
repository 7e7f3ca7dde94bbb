"""Reference MemoryKernel: the service of releases v0.3.2 (service.v2) and v0.4.0 (service.v3).

Copies `memory-kernel-service` at those tags (saagar210/MemoryKernel): routes, envelopes, error
classification (by the whole cause chain, answering with the outermost message), request
decoding with axum's rejection texts, the SQLite store with the real layout and migrations (so
the real binaries open a database the reference made, and the reference opens theirs), the
ordering, hyper's HTTP/1.1 answers and the two tokio workers its blocking handlers share.
Modules: server (lifecycle, command line), app (routes and envelopes), api (the operations and
error classification), failures (anyhow/rusqlite error chains), store and schema (SQLite),
query (ordering), json_body and json_reader (serde-style decoding), requests (request types),
model (records), openapi (the producer's document, shipped as data), timestamps (RFC 3339,
ULIDs); HTTP comes from `runner.http11`.

Command line as the real binary's: `--db PATH --bind IP:PORT` (default 127.0.0.1:4010), plus
`--release TAG` (the real binary is one per release); nothing is printed at start-up, readiness
is `GET /v1/health`; the database is opened per request, so a bad `--db` never stops it starting.
Listen backlog 1024 (tokio's): bursts of 40-60 connections are queued, not reset.

Compared with the real binaries case by case (tests/conformance/test_memorykernel_real.py, run
with MKDRILL_REAL_MEMORYKERNEL_BIN): status, content type, keys and value types, error code and
message, raw transport bytes, a locked database, a connection burst and each side opening the
other's database all match. Differences kept, each with its reason:
- a SQLite prepare error ("no such column: memory_version_id in SELECT ... at offset N") quotes
  the reference's own SQL text and offset: the message, code and status match, the statement
  is worded here, not copied.
- a request body that the route never reads (schema-version, health, context) and that arrives
  after the answer: the real service closes the connection quietly (hyper drains only what is
  already there); the reference reads every body before answering and keeps the connection.
  No consumer sends such a body (AssistSupport's schema check has none).
- worker threads: one per CPU the process may run on (tokio counts cgroup CPU quotas too); a
  freed worker goes to the newest waiting request first, then the rest in order, as tokio's
  LIFO slot tends to. Which ask of a burst lands in which 5 s wave under a lock varies on the
  real binary from run to run; the reference keeps the same waves, two requests per wave.
- the first migration of a fresh database runs one request at a time in this process: the real
  store checks the layout outside its migration transaction too, but there the race with a
  concurrent first request lasts microseconds; a Python thread switch can sit inside it.
- SQLite is the interpreter's (3.40 here), not rusqlite's bundled 3.45: the same file format and
  the same errors for every case compared; texts of errors no case meets could differ.
"""

from runner.reference.memorykernel.server import MemoryKernelServer, release_for, serve

__all__ = ["MemoryKernelServer", "release_for", "serve"]
