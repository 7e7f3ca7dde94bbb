"""Reference AssistSupport Draft consumer: AssistSupport's MemoryKernel adapter behind HTTP.

Copies `src-tauri/src/commands/memory_kernel.rs` and the `useMemoryKernelEnrichment` hook
(saagar210/AssistSupport): env settings and preflight (preflight), enrichment (enrichment),
reqwest-like client (client), serde-style JSON acceptance (serde_json); server adds the Draft
route and the admin routes; serving is the stoppable HTTP server.
"""

from runner.reference.assistsupport.server import AssistSupportServer, serve

__all__ = ["AssistSupportServer", "serve"]
