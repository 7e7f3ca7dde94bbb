"""MemoryKernel's health as the on-call person would check it: `GET /v1/health` directly, every half second."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx

from runner.tls import shared_ssl_context

POLL_INTERVAL_S = 0.5
CALL_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class HealthReading:
    """One health call: answered or not, with the contract versions it named."""

    answered: bool
    http_status: int | None = None
    service_contract_version: str | None = None
    api_contract_version: str | None = None
    status: str | None = None  # data.status
    latency_ms: float = 0.0
    error: str | None = None

    def label(self) -> str:
        """One line for the screen and the auto diagnosis."""
        if not self.answered:
            return f"unreachable ({self.error or 'no answer'})"
        if self.http_status != 200:
            return f"HTTP {self.http_status} ({self.latency_ms:.0f} ms)"
        versions = f"{self.service_contract_version}/{self.api_contract_version}"
        return f"{self.status or '?'} {versions} ({self.latency_ms:.0f} ms)"


def read_health(client: httpx.Client, url: str) -> HealthReading:
    """Call `url` (a MemoryKernel's /v1/health) once."""
    started = time.perf_counter()
    try:
        response = client.get(url)
    except httpx.TimeoutException:
        return HealthReading(False, error=f"no answer within {CALL_TIMEOUT_S:g} s")
    except httpx.HTTPError as exc:
        return HealthReading(False, error=type(exc).__name__)
    latency = (time.perf_counter() - started) * 1000
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    data = body if isinstance(body, dict) else {}
    inner = data.get("data") if isinstance(data.get("data"), dict) else {}
    return HealthReading(
        True,
        http_status=response.status_code,
        service_contract_version=_text(data.get("service_contract_version")),
        api_contract_version=_text(data.get("api_contract_version")),
        status=_text(inner.get("status")) if inner else None,
        latency_ms=latency,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class HealthWatch:
    """Polls MemoryKernel's health on a thread; `latest` is the newest reading (None before the first)."""

    def __init__(self, memorykernel_url: str) -> None:
        self._url = f"{memorykernel_url.rstrip('/')}/v1/health"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: HealthReading | None = None
        self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)

    @property
    def latest(self) -> HealthReading | None:
        with self._lock:
            return self._latest

    def start(self) -> None:
        """Begin polling."""
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=CALL_TIMEOUT_S, verify=shared_ssl_context()) as client:
            while not self._stop.is_set():
                reading = read_health(client, self._url)
                with self._lock:
                    self._latest = reading
                self._stop.wait(POLL_INTERVAL_S)

    def stop(self) -> None:
        """Stop polling (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CALL_TIMEOUT_S + 1.0)
