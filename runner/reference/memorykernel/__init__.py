"""Reference MemoryKernel: the service of releases v0.3.2 (service.v2) and v0.4.0 (service.v3).

Copies `memory-kernel-service` at those tags (saagar210/MemoryKernel): routes, envelopes, error
classification, request decoding with axum's rejection texts, SQLite store and ordering. Modules:
server (lifecycle, command line), transport (HTTP/1.1), app (routes and envelopes), api (the
operations and error classification), store (SQLite), query (ordering), json_body and
json_reader (serde-style decoding), requests (request types), model (records), openapi,
timestamps (RFC 3339 and ULIDs).
"""

from runner.reference.memorykernel.server import MemoryKernelServer, release_for, serve

__all__ = ["MemoryKernelServer", "release_for", "serve"]
