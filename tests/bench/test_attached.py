"""The attached environment: network faults only, process faults refused, endpoints round-trip."""

from __future__ import annotations

import json

import pytest

from runner.backends.base import ConsumerSettings, Endpoints
from runner.backends.local import free_port
from runner.bench.attached import AttachedEnvironment, endpoints_from_json
from runner.errors import EnvironmentProblem, InjectionError
from runner.pins import default_pin_path, load_pin


def _endpoints() -> Endpoints:
    port = free_port()  # nothing listens there
    return Endpoints(
        consumer_url=f"http://127.0.0.1:{port}",
        memorykernel_url="http://127.0.0.1:4010",
        toxiproxy_url="http://127.0.0.1:8474",
        proxy_name="mkdrill_bench_memorykernel",
    )


def test_endpoints_round_trip_through_json() -> None:
    endpoints = _endpoints()
    assert endpoints_from_json(json.dumps(endpoints.__dict__)) == endpoints


def test_up_returns_the_running_endpoints_only_for_its_release() -> None:
    env = AttachedEnvironment(_endpoints(), "v0.3.2")
    consumer = ConsumerSettings(pin=load_pin(default_pin_path("v0.3.2")))
    try:
        assert env.up("v0.3.2", consumer).memorykernel_url == "http://127.0.0.1:4010"
        assert env.memorykernel_upstream() == "127.0.0.1:4010"
        with pytest.raises(EnvironmentProblem, match=r"v0\.4\.0"):
            env.up("v0.4.0", consumer)
    finally:
        env.down()


@pytest.mark.parametrize(
    "action",
    ["stop_memorykernel", "kill_memorykernel", "pause_memorykernel", "disconnect_network"],
)
def test_process_faults_are_refused(action: str) -> None:
    env = AttachedEnvironment(_endpoints(), "v0.3.2")
    try:
        with pytest.raises(InjectionError, match="does not own the processes"):
            getattr(env, action)()
    finally:
        env.down()


def test_consumer_env_on_a_gone_consumer_is_an_environment_problem() -> None:
    env = AttachedEnvironment(_endpoints(), "v0.3.2")
    try:
        with pytest.raises(EnvironmentProblem, match="cannot set consumer env"):
            env.set_consumer_env({"ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "500"})
    finally:
        env.down()
