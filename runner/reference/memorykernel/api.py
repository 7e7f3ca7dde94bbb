"""MemoryKernel's API operations (memory-kernel-api) and the service's error classification."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from runner.reference.memorykernel.failures import KernelFailure
from runner.reference.memorykernel.model import (
    KernelError,
    constraint_from_request,
    summary_from_request,
)
from runner.reference.memorykernel.query import (
    Query,
    build_policy_package,
    build_recall_package,
    snapshot_id,
)
from runner.reference.memorykernel.requests import SUMMARY_RECORD_TYPES
from runner.reference.memorykernel.store import Store
from runner.reference.memorykernel.timestamps import Timestamp

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ServiceFailure(Exception):
    """A typed error response: HTTP status, `error.code`, `error.message`, optional details."""

    status: int
    code: str
    message: str
    details: dict[str, Any] | None = field(default=None)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def classify(failure: KernelFailure, default_status: int, default_code: str) -> ServiceFailure:
    """`classify_api_error`: the whole cause chain decides the code, the outermost text is sent."""
    text = failure.diagnostic.lower()
    message = failure.message
    if "context package not found" in text:
        return ServiceFailure(404, "context_package_not_found", message)
    if any(
        m in text
        for m in ("unique constraint failed", "foreign key constraint failed", "already exists")
    ):
        return ServiceFailure(409, "write_conflict", message)
    if any(
        m in text
        for m in (
            "validation failed",
            "must be provided",
            "cannot be empty",
            "unknown record_type",
            "unknown truth_status",
            "unknown authority",
        )
    ):
        return ServiceFailure(400, "validation_error", message)
    if any(m in text for m in ("schema", "sqlite", "database")):
        return ServiceFailure(503, "schema_unavailable", message)
    return ServiceFailure(default_status, default_code, message)


def run_operation(operation: Callable[[], T], default_status: int, default_code: str) -> T:
    """Run one blocking API call; any failure becomes a classified ServiceFailure."""
    try:
        return operation()
    except KernelFailure as failure:
        raise classify(failure, default_status, default_code) from failure
    except KernelError as exc:  # memory-kernel-core's errors reach anyhow without a context
        raise classify(KernelFailure(str(exc)), default_status, default_code) from exc
    except Exception as exc:
        logger.exception("unexpected failure in a MemoryKernel operation")
        raise classify(KernelFailure(str(exc)), default_status, default_code) from exc


class MemoryKernelApi:
    """The operations behind each route, each opening the store like the real API does."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def schema_status(self) -> dict[str, Any]:
        with Store.open(self.db) as store:
            return store.schema_status().to_json()

    def migrate(self, dry_run: bool) -> dict[str, Any]:
        with Store.open(self.db) as store:
            before = store.schema_status()
            result: dict[str, Any] = {
                "dry_run": dry_run,
                "current_version": before.current_version,
                "target_version": before.target_version,
                "would_apply_versions": before.pending_versions,
                "inferred_from_legacy": before.inferred_from_legacy,
                "after_version": None,
                "up_to_date": None,
            }
            if dry_run:
                return result
            store.migrate()
            after = store.schema_status()
            result["after_version"] = after.current_version
            result["up_to_date"] = not after.pending_versions
            return result

    def add_constraint(self, request: dict[str, Any]) -> dict[str, Any]:
        with Store.open(self.db) as store:
            store.migrate()
            record = constraint_from_request(request)
            store.write_record(record)
            return record.to_json()

    def add_summary(self, request: dict[str, Any]) -> dict[str, Any]:
        with Store.open(self.db) as store:
            store.migrate()
            record = summary_from_request(request)
            store.write_record(record)
            return record.to_json()

    def add_link(self, request: dict[str, Any]) -> dict[str, Any]:
        with Store.open(self.db) as store:
            store.migrate()
            store.add_link(
                request["from"],
                request["to"],
                request["relation"],
                request["writer"],
                request["justification"],
            )
        return {
            "from_memory_version_id": request["from"],
            "to_memory_version_id": request["to"],
            "relation": request["relation"],
            "writer": request["writer"],
            "justification": request["justification"],
        }

    def query_ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with Store.open(self.db) as store:
            store.migrate()
            as_of: Timestamp = request["as_of"] or Timestamp.now()
            records = store.list_records()
            snapshot = snapshot_id(
                records,
                as_of,
                request["text"],
                [
                    "query_mode=policy",
                    f"actor={request['actor']}",
                    f"action={request['action']}",
                    f"resource={request['resource']}",
                ],
            )
            query = Query(
                request["text"], request["actor"], request["action"], request["resource"], as_of
            )
            package = build_policy_package(records, query, snapshot)
            store.save_context_package(package)
            return package

    def query_recall(self, request: dict[str, Any]) -> dict[str, Any]:
        with Store.open(self.db) as store:
            store.migrate()
            as_of: Timestamp = request["as_of"] or Timestamp.now()
            record_types: list[str] = request["record_types"] or list(SUMMARY_RECORD_TYPES)
            records = store.list_records()
            snapshot = snapshot_id(
                records,
                as_of,
                request["text"],
                ["query_mode=recall", "record_types=" + ",".join(sorted(record_types))],
            )
            query = Query(request["text"], "*", "*", "*", as_of)
            package = build_recall_package(records, query, snapshot, record_types)
            store.save_context_package(package)
            return package

    def context_show(self, context_package_id: str) -> dict[str, Any]:
        with Store.open(self.db) as store:
            store.migrate()
            package = store.get_context_package(context_package_id)
        if package is None:
            raise KernelFailure(f"context package not found: {context_package_id}")
        return package
