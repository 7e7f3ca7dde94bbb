"""The reference services every peer benchmark shares: one local environment, up and seeded once."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.backends.base import ConsumerSettings, Endpoints
from runner.backends.local import LocalEnvironment
from runner.drill_run import consumer_settings_for
from runner.errors import EnvironmentProblem
from runner.plan import load_consumer_pin


@dataclass(frozen=True)
class SharedServices:
    """MemoryKernel behind a Toxiproxy proxy and the reference consumer, all already running."""

    env: LocalEnvironment
    endpoints: Endpoints
    consumer: ConsumerSettings

    def endpoints_json(self) -> str:
        """The endpoints as the attached runner reads them."""
        return json.dumps(asdict(self.endpoints))


@contextlib.contextmanager
def shared_services(state_dir: Path, name: str = "bench") -> Iterator[SharedServices]:
    """Bring up the embedded default as shipped (its pin and the pin's timeout), seed, always tear down."""
    from runner.probes.seed import seed_policy

    pin = load_consumer_pin(None)
    consumer = consumer_settings_for(ConsumerSettings(pin=pin), None)
    env = LocalEnvironment(state_dir, name)
    try:
        endpoints = env.up(pin.release_tag, consumer)
        seed_policy(endpoints.memorykernel_url)
        yield SharedServices(env, endpoints, consumer)
    finally:
        env.down()


def console_script(name: str) -> str:
    """The console script installed beside this interpreter (not a version-manager shim, whose own
    start-up would be measured too), else whatever PATH finds."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise EnvironmentProblem(f"{name}: not installed; pip install -e '.[dev]'")
    return found
