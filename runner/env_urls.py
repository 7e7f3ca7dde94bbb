"""What a person needs to use an environment: its URLs, written by `env up` and shown by `env status`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.backends.base import Endpoints
from runner.reports.atomic import write_atomic

URLS_FILE = "env-urls.json"


@dataclass(frozen=True)
class EnvironmentUrls:
    """The addresses of an `env up` environment, and its consumer's admin token."""

    backend: str
    release: str
    toxiproxy_kind: str
    draft_url: str
    preflight_url: str
    memorykernel_via_proxy: str
    memorykernel_direct: str
    toxiproxy_api: str
    proxy_name: str
    admin_token: str
    consumer: str = ""

    @classmethod
    def of(
        cls,
        backend: str,
        release: str,
        toxiproxy_kind: str,
        endpoints: Endpoints,
        consumer: str = "",
    ) -> EnvironmentUrls:
        """From the endpoints an environment's `up()` returned."""
        return cls(
            backend=backend,
            release=release,
            toxiproxy_kind=toxiproxy_kind,
            draft_url=f"{endpoints.consumer_url}/v1/draft",
            preflight_url=f"{endpoints.consumer_url}/v1/preflight",
            memorykernel_via_proxy=f"http://{endpoints.proxy_listen}",
            memorykernel_direct=endpoints.memorykernel_url,
            toxiproxy_api=endpoints.toxiproxy_url,
            proxy_name=endpoints.proxy_name,
            admin_token=endpoints.admin_token,
            consumer=consumer,
        )

    def lines(self, urls_file: Path) -> list[str]:
        """The screen `env up` and `env status` show."""
        return [
            f"environment up at {self.release} ({self.backend} backend, toxiproxy {self.toxiproxy_kind}"
            + (f", {self.consumer}" if self.consumer else "")
            + "):",
            f'  Draft          POST {self.draft_url}   body {{"ticket": "<text>"}}',
            f"  preflight      GET  {self.preflight_url}",
            f"  MemoryKernel   {self.memorykernel_via_proxy}   through the Toxiproxy proxy {self.proxy_name} "
            f"(ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL for a consumer of yours); direct {self.memorykernel_direct}",
            f"  Toxiproxy API  {self.toxiproxy_api}",
            f"  admin token    in {urls_file} (POST /v1/admin/env on the consumer needs it)",
            f'  try: curl -s -X POST {self.draft_url} -d \'{{"ticket": "printer offline"}}\'',
        ]


def urls_path(state: Path) -> Path:
    """Where `env up` keeps the URLs of its environment."""
    return state / URLS_FILE


def save_urls(state: Path, urls: EnvironmentUrls) -> Path:
    """Write the URLs (owner-only: the file holds the admin token)."""
    path = urls_path(state)
    write_atomic(path, json.dumps(asdict(urls), indent=2) + "\n")
    os.chmod(path, 0o600)
    return path


def load_urls(state: Path) -> EnvironmentUrls | None:
    """The saved URLs, or None when there are none (or they are unreadable)."""
    try:
        data = json.loads(urls_path(state).read_text(encoding="utf-8"))
        return EnvironmentUrls(**{k: str(v) for k, v in data.items()})
    except (OSError, ValueError, TypeError):
        return None
