"""Names, ports and paths of the compose topology, as compose/docker-compose.yml defines them."""

from __future__ import annotations

import json
import re

from runner.backends.admin_token import ADMIN_TOKEN_ENV
from runner.backends.base import ConsumerSettings, defect_arguments

MEMORYKERNEL = "memorykernel"
TOXIPROXY = "toxiproxy"
CONSUMER = "assistsupport"
RESPONDER = "responder"
NETWORK_ROLE = "network"

# Container ports, as the Docker API names them.
MK_PORT = "4010/tcp"
CONSUMER_PORT = "4020/tcp"
API_PORT = "8474/tcp"
PROXY_PORT = "4011/tcp"
RESPONDER_PORT = 4030
PUBLISHED = {
    MEMORYKERNEL: (MK_PORT,),
    TOXIPROXY: (API_PORT, PROXY_PORT),
    CONSUMER: (CONSUMER_PORT,),
}

# Addresses inside the project network.
MK_UPSTREAM = f"{MEMORYKERNEL}:4010"
PROXY_LISTEN = "0.0.0.0:4011"
CONSUMER_BASE_URL = f"http://{TOXIPROXY}:4011"

# The consumer reads its pin from a file mkdrill writes into the container before it starts.
PIN_DIR = "/tmp"
PIN_FILE = "mkdrill-pin.json"


def project_name(run_id: str) -> str:
    """The Compose project of a run: `mkdrill-<run-id>` in the characters Compose accepts."""
    return "mkdrill-" + (re.sub(r"[^a-z0-9_-]", "-", run_id.lower()).strip("-") or "run")


def consumer_command(consumer: ConsumerSettings) -> list[str]:
    """Arguments of the consumer image (after its `mkdrill serve assistsupport` entry point)."""
    return [
        "--pin", f"{PIN_DIR}/{PIN_FILE}",
        "--ask-body", consumer.ask_body,
        *defect_arguments(consumer),
    ]  # fmt: skip


def consumer_environment(consumer: ConsumerSettings, admin_token: str) -> dict[str, str]:
    """The consumer's variables: MemoryKernel through the proxy, the drill's own, the admin token."""
    return {
        "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": CONSUMER_BASE_URL,
        **consumer.env,
        ADMIN_TOKEN_ENV: admin_token,
    }


def pin_bytes(consumer: ConsumerSettings) -> bytes:
    """The pin file as loaded (raw bytes), or the pin serialised when it has no file."""
    source = consumer.pin.source
    if source is not None and source.is_file():
        return source.read_bytes()
    return json.dumps(consumer.pin.model_dump(mode="json"), indent=2).encode()
