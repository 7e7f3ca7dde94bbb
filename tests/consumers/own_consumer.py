"""A Draft consumer of one's own, standing in for an AssistSupport build under `mkdrill run --probe-*`.

Standalone on purpose (the standard library only, nothing of mkdrill): it reads only AssistSupport's
own variables, fresh on every Draft as the real adapter does, and follows memory_kernel.rs step by
step (preflight health + schema-version, then ask; every failure a fallback, the Draft always
answered). Like the real adapter, which builds a new HTTP client per call (on Linux that parses the
system CA bundle), every Draft first burns --cpu-ms of CPU, outside the GIL so two Drafts use two
cores. It sends the patched ask body (`"as_of": null`), the one-line fix of AssistSupport's
shipped body, so a healthy MemoryKernel enriches its Drafts.

    python tests/consumers/own_consumer.py serve --pin PIN [--host 127.0.0.1] [--port 4020]
    python tests/consumers/own_consumer.py draft --pin PIN      # one Draft, JSON on stdout

Variables: ASSISTSUPPORT_ENABLE_MEMORY_KERNEL (default on), ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL
(default: the pin's default_base_url), ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS (100..30000, default:
the pin's default_timeout_ms), each request's total time bounded by it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TICKET = "Customer cannot sync the desktop client after the update."
_BLOCK = os.urandom(1 << 20)


def burn_cpu(ms: float) -> None:
    """Spend `ms` of this thread's CPU hashing (hashlib releases the GIL on large buffers)."""
    end = time.thread_time() + ms / 1000
    digest = hashlib.sha256()
    while time.thread_time() < end:
        digest.update(_BLOCK)


class Transport(Exception):
    """A request that did not get an answer: `kind` is timeout, connect or request."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def call(method: str, url: str, body: bytes | None, timeout_s: float) -> tuple[int, str]:
    """One request bounded in total by `timeout_s`; a body that fails mid-way reads as ""."""
    deadline = time.monotonic() + timeout_s
    parts = urlsplit(url)

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline")
        return remaining

    connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=left())
    try:
        try:
            connection.connect()
        except TimeoutError as exc:
            raise Transport("timeout", str(exc)) from exc
        except OSError as exc:
            raise Transport("connect", str(exc)) from exc
        try:
            headers = {"content-type": "application/json"} if body is not None else {}
            connection.request(method, parts.path or "/", body=body or b"", headers=headers)
            assert connection.sock is not None
            connection.sock.settimeout(left())
            response = connection.getresponse()
        except TimeoutError as exc:
            raise Transport("timeout", str(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise Transport("request", str(exc)) from exc
        chunks: list[bytes] = []
        try:
            while True:
                if connection.sock is not None:
                    connection.sock.settimeout(left())
                chunk = response.read1(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (OSError, http.client.HTTPException, TimeoutError):
            return response.status, ""  # reqwest's text().unwrap_or_default()
        return response.status, b"".join(chunks).decode("utf-8", "replace")
    finally:
        connection.close()


def envelope(text: str, data_type: type | None) -> dict[str, Any] | None:
    """The contract envelope, or None when the body is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or "data" not in value:
        return None
    if not isinstance(value.get("service_contract_version"), str) or not isinstance(
        value.get("api_contract_version"), str
    ):
        return None
    if data_type is not None and not isinstance(value["data"], data_type):
        return None
    return value


def settings(pin: dict[str, Any]) -> tuple[bool, str, float]:
    """Enabled, base URL and timeout, read now from AssistSupport's variables."""
    flag = os.environ.get("ASSISTSUPPORT_ENABLE_MEMORY_KERNEL")
    enabled = True if flag is None else flag.strip().lower() in ("1", "true", "yes", "on")
    base = os.environ.get("ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL", "").strip().rstrip("/")
    raw = os.environ.get("ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS", "").strip()
    timeout_ms = (
        min(max(int(raw), 100), 30_000) if raw.isdigit() else int(pin["default_timeout_ms"])
    )
    return enabled, base or str(pin["default_base_url"]), timeout_ms / 1000


def preflight(pin: dict[str, Any], enabled: bool, base: str, timeout_s: float) -> dict[str, Any]:
    """memory_kernel.rs run_preflight_internal: the first failing check decides."""
    status: dict[str, Any] = {
        "enabled": enabled, "ready": False, "enrichment_enabled": False, "status": "disabled",
        "message": "MemoryKernel enrichment is disabled by configuration", "base_url": base,
        "service_contract_version": None, "api_contract_version": None,
        "expected_service_contract_version": pin["expected_service_contract_version"],
        "expected_api_contract_version": pin["expected_api_contract_version"],
        "integration_baseline": pin["expected_integration_baseline"],
        "release_tag": pin["release_tag"], "commit_sha": pin["commit_sha"],
    }  # fmt: skip
    expected = (pin["expected_service_contract_version"], pin["expected_api_contract_version"])

    def fail(state: str, message: str) -> dict[str, Any]:
        return {**status, "status": state, "message": message}

    if not enabled:
        return status
    for path, method, unreachable in (
        ("/v1/health", "GET", "offline"),
        ("/v1/db/schema-version", "POST", "schema-unavailable"),
    ):
        try:
            code, text = call(method, base + path, None, timeout_s)
        except Transport as exc:
            return fail(unreachable, f"MemoryKernel {path} unavailable at {base}: {exc}")
        if not 200 <= code < 300:
            return fail(unreachable, f"MemoryKernel {path} failed with HTTP {code}")
        body = envelope(text, dict if path == "/v1/health" else None)
        if body is None or (
            path == "/v1/health" and not isinstance(body["data"].get("status"), str)
        ):
            return fail("malformed-payload", f"MemoryKernel {path} payload is not a JSON envelope")
        got = (body["service_contract_version"], body["api_contract_version"])
        if got != expected:
            return {
                **fail("version-mismatch", f"Expected {expected[0]}/{expected[1]} but got {got[0]}/{got[1]}"),
                "service_contract_version": got[0], "api_contract_version": got[1],
            }  # fmt: skip
        status.update(service_contract_version=got[0], api_contract_version=got[1])
        if path == "/v1/health" and body["data"]["status"].lower() != "ok":
            return fail("degraded", "MemoryKernel health endpoint did not report status=ok")
    return {**status, "ready": True, "enrichment_enabled": True, "status": "ready",
            "message": "MemoryKernel preflight passed (health + schema checks)"}  # fmt: skip


CODE_REASONS = {
    "invalid_json": "validation-error", "validation_failed": "validation-error",
    "validation_error": "validation-error", "invalid_request": "validation-error",
    "context_package_not_found": "context-not-found", "write_conflict": "write-conflict",
    "schema_unavailable": "schema-unavailable", "schema_mismatch": "schema-unavailable",
    "version_mismatch": "version-mismatch", "contract_mismatch": "version-mismatch",
    "service_unavailable": "offline", "upstream_unavailable": "offline",
    "timeout": "timeout", "upstream_timeout": "timeout",
}  # fmt: skip
STATUS_REASONS = {408: "timeout", 504: "timeout", 502: "offline", 503: "offline", 429: "offline",
                  400: "validation-error", 422: "validation-error"}  # fmt: skip
PREFLIGHT_REASONS = {"disabled": "feature-disabled", "offline": "offline",
                     "schema-unavailable": "schema-unavailable", "version-mismatch": "version-mismatch",
                     "malformed-payload": "malformed-payload", "degraded": "degraded"}  # fmt: skip
TRANSPORT_REASONS = {"timeout": "timeout", "connect": "offline", "request": "query-error"}


def enrich(pin: dict[str, Any], ticket: str, cpu_ms: float) -> dict[str, Any]:
    """memory_kernel_query_ask: the enrichment result; it never raises."""
    burn_cpu(cpu_ms)  # the real adapter's per-call HTTP client (CA bundle parse)
    enabled, base, timeout_s = settings(pin)
    checked = preflight(pin, enabled, base, timeout_s)

    def fallback(reason: str, message: str, code: str | None = None) -> dict[str, Any]:
        return {"applied": False, "status": "fallback", "message": message,
                "fallback_reason": reason, "machine_error_code": code, "context_package_id": None,
                "enrichment_text": None, "preflight": checked}  # fmt: skip

    if not checked["enrichment_enabled"]:
        return fallback(PREFLIGHT_REASONS.get(checked["status"], "unknown"), checked["message"])
    ask = {"text": ticket.strip(), "actor": "support_agent", "action": "resolve",
           "resource": "support_ticket", "as_of": None}  # fmt: skip
    try:
        code, text = call("POST", base + "/v1/query/ask", json.dumps(ask).encode(), timeout_s)
    except Transport as exc:
        return fallback(TRANSPORT_REASONS[exc.kind], f"MemoryKernel query ask failed: {exc}")
    if not 200 <= code < 300:
        machine = None
        try:
            error = json.loads(text).get("error")
            if (
                isinstance(error, dict)
                and isinstance(error.get("code"), str)
                and error["code"].strip()
            ):
                machine = error["code"]
        except (ValueError, AttributeError):
            pass
        reason = (
            CODE_REASONS.get(machine.strip().lower(), "non-2xx")
            if machine
            else STATUS_REASONS.get(code, "non-2xx")
        )
        return fallback(
            reason, f"MemoryKernel query ask returned HTTP {code}: {text[:300]}", machine
        )
    body = envelope(text, None)
    if body is None:
        return fallback(
            "malformed-payload", "MemoryKernel query ask returned malformed JSON envelope"
        )
    expected = (pin["expected_service_contract_version"], pin["expected_api_contract_version"])
    if (body["service_contract_version"], body["api_contract_version"]) != expected:
        return fallback("version-mismatch", "MemoryKernel query ask contract mismatch")
    data = body["data"] if isinstance(body["data"], dict) else {}
    answer = data.get("answer") if isinstance(data.get("answer"), dict) else {}
    lines = []
    if isinstance(answer.get("result"), str):
        lines.append(f"Policy decision: {answer['result']}")
    if isinstance(answer.get("why"), str):
        lines.append(f"Why: {answer['why']}")
    items = data.get("selected_items")
    if isinstance(items, list) and items:
        lines.append("Selected memory evidence:")
        for item in items[:3]:
            item = item if isinstance(item, dict) else {}
            reasons = (
                (item.get("why") or {}).get("reasons")
                if isinstance(item.get("why"), dict)
                else None
            )
            first = (
                reasons[0]
                if isinstance(reasons, list) and reasons and isinstance(reasons[0], str)
                else "No reason provided"
            )
            lines.append(
                f"- [{item.get('record_type', 'unknown')}] {item.get('memory_id', 'unknown')}: {first}"
            )
    package = (
        data.get("context_package_id") if isinstance(data.get("context_package_id"), str) else None
    )
    if not lines:
        result = fallback("empty-context", "MemoryKernel returned no actionable context items")
        return {**result, "context_package_id": package}
    return {"applied": True, "status": "applied", "message": "MemoryKernel enrichment applied",
            "fallback_reason": None, "machine_error_code": None, "context_package_id": package,
            "enrichment_text": "\n".join(lines), "preflight": checked}  # fmt: skip


def draft(pin: dict[str, Any], ticket: str, cpu_ms: float) -> dict[str, Any]:
    """The Draft answer: the reply, and what enrichment did."""
    result = enrich(pin, ticket, cpu_ms)
    notes = (
        f"\n\nMemoryKernel Policy Context\n{result['enrichment_text']}" if result["applied"] else ""
    )
    return {"draft": f"Thanks for writing in about: {ticket.strip()}{notes}", "enrichment": result}


def serve(pin: dict[str, Any], host: str, port: int, cpu_ms: float) -> None:
    """POST /v1/draft {"ticket"} → the Draft answer; GET /v1/health → ok."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, status: int, value: dict[str, Any]) -> None:
            payload = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._send(
                200, {"status": "ok"} if self.path == "/v1/health" else {"error": "not found"}
            )

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path != "/v1/draft":
                self._send(404, {"error": "not found"})
                return
            try:
                ticket = json.loads(raw)["ticket"]
            except (ValueError, KeyError, TypeError):
                self._send(400, {"error": 'body must be {"ticket": "..."}'})
                return
            self._send(200, draft(pin, str(ticket), cpu_ms))

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server((host, port), Handler)
    print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=["serve", "draft"])
    parser.add_argument("--pin", required=True, help="the pin it is built with (compiled in)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4020)
    parser.add_argument("--cpu-ms", type=float, default=100.0, help="CPU burnt per Draft")
    parser.add_argument("ticket", nargs="?", default=TICKET)
    args = parser.parse_args()
    with open(args.pin, encoding="utf-8") as file:
        pin = json.load(file)
    if args.mode == "serve":
        serve(pin, args.host, args.port, args.cpu_ms)
    else:
        print(json.dumps(draft(pin, args.ticket, args.cpu_ms)))


if __name__ == "__main__":
    sys.exit(main())
