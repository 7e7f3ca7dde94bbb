"""MemoryKernel's routes and envelopes for one release: request in, status/headers/body out.

Transport-free, so the HTTP handler stays thin. What axum does outside the handlers is kept:
an unknown path is a plain 404 with an empty body, a known path with the wrong method a plain
405 with `Allow`, and only the handlers' own failures become typed error envelopes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from runner.contract import Release
from runner.http11.server import Exchange, Request, Response
from runner.reference.memorykernel.api import MemoryKernelApi, ServiceFailure, run_operation
from runner.reference.memorykernel.json_body import (
    JsonRejection,
    Struct,
    body_read_failed,
    decode_body,
    is_json_content_type,
    length_limit_exceeded,
    missing_content_type,
)
from runner.reference.memorykernel.openapi import openapi_yaml
from runner.reference.memorykernel.requests import (
    ADD_CONSTRAINT_REQUEST,
    ADD_LINK_REQUEST,
    ADD_SUMMARY_REQUEST,
    ASK_REQUEST,
    MIGRATE_REQUEST,
    RECALL_REQUEST,
)

JSON_CONTENT_TYPE = "application/json"
YAML_CONTENT_TYPE = "application/yaml; charset=utf-8"
CONTEXT_PREFIX = "/v1/context/"


@dataclass(frozen=True)
class _JsonRoute:
    """A POST route whose handler takes a JSON body of type `kind`."""

    kind: Struct
    call: Callable[[dict[str, Any]], Any]
    default_status: int
    default_code: str


class MemoryKernelApp:
    """Routes one release's requests to the API and renders its envelopes."""

    def __init__(self, release: Release, db: Path) -> None:
        self.release = release
        self.api = MemoryKernelApi(db)
        self._openapi = openapi_yaml(release)
        # Operations are looked up on `self.api` per call, so a substituted operation takes effect.
        self._json_routes: dict[str, _JsonRoute] = {
            "/v1/db/migrate": _JsonRoute(
                MIGRATE_REQUEST, lambda r: self.api.migrate(r["dry_run"]), 500, "migration_failed"
            ),
            "/v1/memory/add/constraint": _JsonRoute(
                ADD_CONSTRAINT_REQUEST, lambda r: self.api.add_constraint(r), 500, "write_failed"
            ),
            "/v1/memory/add/summary": _JsonRoute(
                ADD_SUMMARY_REQUEST, lambda r: self.api.add_summary(r), 500, "write_failed"
            ),
            "/v1/memory/link": _JsonRoute(
                ADD_LINK_REQUEST, lambda r: self.api.add_link(r), 500, "write_failed"
            ),
            "/v1/query/ask": _JsonRoute(
                ASK_REQUEST, lambda r: self.api.query_ask(r), 500, "query_failed"
            ),
            "/v1/query/recall": _JsonRoute(
                RECALL_REQUEST, lambda r: self.api.query_recall(r), 500, "query_failed"
            ),
        }

    def __call__(self, request: Request, exchange: Exchange) -> Response:
        """The server's handler: `handle(request)`."""
        return self.handle(request)

    def handle(self, request: Request) -> Response:
        """Answer one request (HEAD is answered as GET; the transport drops the body)."""
        method = "GET" if request.method == "HEAD" else request.method
        path = request.path
        if path == "/v1/health":
            return self._only(method, "GET") or self._envelope({"status": "ok"})
        if path == "/v1/openapi":
            return self._only(method, "GET") or Response.of(200, self._openapi, YAML_CONTENT_TYPE)
        if path == "/v1/db/schema-version":
            return self._only(method, "POST") or self._run(
                self.api.schema_status, 503, "schema_unavailable"
            )
        route = self._json_routes.get(path)
        if route is not None:
            return self._only(method, "POST") or self._json(route, request)
        if path.startswith(CONTEXT_PREFIX):
            package_id = path[len(CONTEXT_PREFIX) :]
            if package_id and "/" not in package_id:
                return self._only(method, "GET") or self._run(
                    lambda: self.api.context_show(unquote(package_id)),
                    500,
                    "context_lookup_failed",
                )
        return Response(404)

    # --- pieces -----------------------------------------------------------------------------

    @staticmethod
    def _only(method: str, allowed: str) -> Response | None:
        if method == allowed:
            return None
        allow = "GET,HEAD" if allowed == "GET" else allowed
        return Response(405, headers=(("allow", allow),))

    def _json(self, route: _JsonRoute, request: Request) -> Response:
        try:
            if not is_json_content_type(request.content_type):
                raise missing_content_type()
            if request.body_error is not None:
                raise body_read_failed(request.body_error)
            if request.body is None:
                raise length_limit_exceeded()
            body = decode_body(request.body, route.kind)
        except JsonRejection as rejection:
            return self._error(
                ServiceFailure(
                    rejection.status,
                    "invalid_json",
                    rejection.body_text,
                    {"rejection": rejection.rejection},
                )
            )
        return self._run(lambda: route.call(body), route.default_status, route.default_code)

    def _run(
        self, operation: Callable[[], Any], default_status: int, default_code: str
    ) -> Response:
        try:
            data = run_operation(operation, default_status, default_code)
        except ServiceFailure as failure:
            return self._error(failure)
        return self._envelope(data)

    def _envelope(self, data: Any) -> Response:
        body = {
            "service_contract_version": self.release.service_contract_version,
            "api_contract_version": self.release.api_contract_version,
            "data": data,
        }
        return Response.of(200, _json_bytes(body), JSON_CONTENT_TYPE)

    def _error(self, failure: ServiceFailure) -> Response:
        error: dict[str, Any] = {"code": failure.code, "message": failure.message}
        if failure.details is not None:
            error["details"] = failure.details
        body: dict[str, Any] = {
            "service_contract_version": self.release.service_contract_version,
            "error": error,
        }
        if self.release.keeps_legacy_error:
            body["legacy_error"] = failure.message
        return Response.of(failure.status, _json_bytes(body), JSON_CONTENT_TYPE)


def _json_bytes(value: Any) -> bytes:
    """Compact JSON with raw UTF-8, as serde_json writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
