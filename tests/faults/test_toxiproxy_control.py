"""ToxiproxyControl on the embedded server: injectors, idempotent undo, a gone API, server start."""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.errors import DefinitionError, EnvironmentProblem, InjectionError
from runner.faults.toxiproxy import (
    ToxiproxyControl,
    find_toxiproxy_server,
    start_toxiproxy,
)
from runner.reference.toxiproxy import EmbeddedToxiproxy

# The module fixture is made once: every test of this file runs on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("toxiproxy-control")


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy() as server:
        yield server


@pytest.fixture
def control(embedded: EmbeddedToxiproxy) -> Iterator[ToxiproxyControl]:
    control = ToxiproxyControl(embedded.url)
    yield control
    control.delete_proxy("svc")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A listener nobody reads from; proxies only need an address."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def gone_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def toxics_of(url: str, proxy: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = httpx.get(f"{url}/proxies/{proxy}/toxics").json()
    return result


def test_ensure_proxy_creates_then_reuses_then_recreates(
    control: ToxiproxyControl, upstream: str
) -> None:
    listen = control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    assert listen.startswith("127.0.0.1:") and not listen.endswith(":0")
    assert control.ensure_proxy("svc", "127.0.0.1:0", upstream) == listen
    assert control.ensure_proxy("svc", listen, upstream) == listen
    other = control.ensure_proxy("svc", "127.0.0.1:0", "127.0.0.1:9")
    assert control.proxy("svc") is not None
    assert control.proxy("svc")["upstream"] == "127.0.0.1:9"  # type: ignore[index]
    assert other.startswith("127.0.0.1:")


def test_ensure_proxy_re_enables_and_clears_toxics(
    control: ToxiproxyControl, embedded: EmbeddedToxiproxy, upstream: str
) -> None:
    listen = control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    control.add_toxic("svc", "latency", "downstream", {"latency": 100})
    control.disable("svc")
    assert control.ensure_proxy("svc", "127.0.0.1:0", upstream) == listen
    assert control.proxy("svc")["enabled"] is True  # type: ignore[index]
    assert toxics_of(embedded.url, "svc") == []


def test_ensure_proxy_on_a_taken_port_is_an_environment_problem(
    control: ToxiproxyControl, upstream: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match="address already in use"):
            control.ensure_proxy("svc", f"127.0.0.1:{port}", upstream)


def test_add_toxic_undo_removes_only_its_toxic_once(
    control: ToxiproxyControl, embedded: EmbeddedToxiproxy, upstream: str
) -> None:
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    first = control.add_toxic("svc", "latency", "downstream", {"latency": 100})
    second = control.add_toxic("svc", "latency", "downstream", {"latency": 50}, toxicity=0.5)
    assert len(toxics_of(embedded.url, "svc")) == 2
    first()
    first()
    remaining = toxics_of(embedded.url, "svc")
    assert [t["attributes"] for t in remaining] == [{"latency": 50, "jitter": 0}]
    assert remaining[0]["toxicity"] == 0.5
    second()
    assert toxics_of(embedded.url, "svc") == []
    assert first.done and second.done


def test_undo_after_the_toxic_or_proxy_is_gone_is_harmless(
    control: ToxiproxyControl, upstream: str
) -> None:
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    toxic_undo = control.add_toxic("svc", "timeout", "upstream", {"timeout": 0})
    disable_undo = control.disable("svc")
    upstream_undo = control.set_upstream("svc", "127.0.0.1:9")
    control.delete_proxy("svc")
    toxic_undo()
    disable_undo()
    upstream_undo()


def test_disable_undo_restores_the_previous_state(control: ToxiproxyControl, upstream: str) -> None:
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    undo = control.disable("svc")
    assert control.proxy("svc")["enabled"] is False  # type: ignore[index]
    undo()
    assert control.proxy("svc")["enabled"] is True  # type: ignore[index]
    undo()
    assert control.proxy("svc")["enabled"] is True  # type: ignore[index]


def test_set_upstream_undo_points_back(control: ToxiproxyControl, upstream: str) -> None:
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    undo = control.set_upstream("svc", "127.0.0.1:9")
    assert control.proxy("svc")["upstream"] == "127.0.0.1:9"  # type: ignore[index]
    undo()
    assert control.proxy("svc")["upstream"] == upstream  # type: ignore[index]


def test_remove_all_and_reset(
    control: ToxiproxyControl, embedded: EmbeddedToxiproxy, upstream: str
) -> None:
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    control.add_toxic("svc", "latency", "upstream", {"latency": 1})
    control.add_toxic("svc", "bandwidth", "downstream", {"rate": 1})
    control.remove_all("svc")
    assert toxics_of(embedded.url, "svc") == []
    control.remove_all("no_such_proxy")
    control.add_toxic("svc", "slicer", "downstream", {"average_size": 1})
    control.disable("svc")
    control.reset()
    assert control.proxy("svc")["enabled"] is True  # type: ignore[index]
    assert toxics_of(embedded.url, "svc") == []


def test_injectors_refuse_bad_requests_with_one_line(
    control: ToxiproxyControl, upstream: str
) -> None:
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    with pytest.raises(InjectionError, match="invalid toxic type"):
        control.add_toxic("svc", "gremlin", "downstream", {})
    with pytest.raises(InjectionError, match="stream"):
        control.add_toxic("svc", "latency", "sideways", {})
    with pytest.raises(InjectionError, match="proxy not found"):
        control.add_toxic("nope", "latency", "downstream", {"latency": 1})
    with pytest.raises(InjectionError, match="no proxy 'nope'"):
        control.disable("nope")
    with pytest.raises(InjectionError, match="no proxy 'nope'"):
        control.set_upstream("nope", "127.0.0.1:9")


def test_delete_of_a_missing_proxy_is_fine(control: ToxiproxyControl) -> None:
    control.delete_proxy("no_such_proxy")
    assert control.proxy("no_such_proxy") is None


def test_calls_to_a_gone_api_name_the_url(gone_url: str, upstream: str) -> None:
    control = ToxiproxyControl(gone_url, timeout=1.0)
    with pytest.raises(EnvironmentProblem, match=gone_url) as raised:
        control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    assert "\n" not in str(raised.value)
    with pytest.raises(InjectionError, match=gone_url):
        control.add_toxic("svc", "latency", "downstream", {"latency": 1})
    with pytest.raises(InjectionError, match=gone_url):
        control.disable("svc")
    with pytest.raises(InjectionError, match=gone_url):
        control.set_upstream("svc", upstream)
    for call in (control.reset, lambda: control.delete_proxy("svc"), control.version):
        with pytest.raises(EnvironmentProblem, match=gone_url):
            call()


def test_every_undo_is_safe_after_the_server_is_gone(upstream: str) -> None:
    server = EmbeddedToxiproxy().start()
    control = ToxiproxyControl(server.url, timeout=1.0)
    control.ensure_proxy("svc", "127.0.0.1:0", upstream)
    undos = [
        control.add_toxic("svc", "latency", "downstream", {"latency": 1}),
        control.disable("svc"),
        control.set_upstream("svc", "127.0.0.1:9"),
    ]
    server.stop()
    server.stop()
    for undo in undos:
        undo()
        undo()


def test_bad_api_url_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=re.escape("http://127.0.0.1:8474")):
        ToxiproxyControl("127.0.0.1:8474")


def test_controls_on_two_servers_do_not_share_an_address(upstream: str) -> None:
    with EmbeddedToxiproxy() as one, EmbeddedToxiproxy() as two:
        first, second = ToxiproxyControl(one.url), ToxiproxyControl(two.url)
        results: list[str] = []

        def create(control: ToxiproxyControl, name: str) -> None:
            control.ensure_proxy(name, "127.0.0.1:0", upstream)
            results.append(name)

        threads = [
            threading.Thread(target=create, args=(first, "on_one")),
            threading.Thread(target=create, args=(second, "on_two")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(results) == ["on_one", "on_two"]
        assert first.proxy("on_two") is None and second.proxy("on_one") is None


def test_embedded_start_on_a_taken_port_is_an_environment_problem() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match=str(port)):
            EmbeddedToxiproxy(port=port).start()


def test_find_toxiproxy_server_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TOXIPROXY_SERVER_BIN", raising=False)
    assert find_toxiproxy_server() is None
    monkeypatch.setenv("TOXIPROXY_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(DefinitionError, match="TOXIPROXY_SERVER_BIN"):
        find_toxiproxy_server()
    fake = _fake_server_binary(tmp_path)
    monkeypatch.setenv("TOXIPROXY_SERVER_BIN", str(fake))
    assert find_toxiproxy_server() == str(fake)


def _fake_server_binary(folder: Path) -> Path:
    """A toxiproxy-server stand-in: takes -host/-port and runs the embedded server."""
    script = folder / "toxiproxy-server"
    root = Path(__file__).resolve().parents[2]
    script.write_text(
        "#!/bin/sh\n"
        f'cd "{root}"\n'
        f'exec "{sys.executable}" -m runner serve toxiproxy --host "$2" --port "$4"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_start_toxiproxy_runs_a_server_binary_when_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: str
) -> None:
    monkeypatch.setenv("TOXIPROXY_SERVER_BIN", str(_fake_server_binary(tmp_path)))
    with start_toxiproxy(prefer_real=True) as handle:
        assert handle.kind.startswith("toxiproxy-server ")
        assert ToxiproxyControl(handle.url).ensure_proxy("svc", "127.0.0.1:0", upstream)
    with pytest.raises(EnvironmentProblem):
        ToxiproxyControl(handle.url, timeout=1.0).version()


def test_start_toxiproxy_falls_back_to_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOXIPROXY_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", os.devnull)
    with start_toxiproxy() as handle:
        assert handle.kind == "embedded"
        assert ToxiproxyControl(handle.url).version()
    handle.close()


def test_start_toxiproxy_reports_a_binary_that_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "toxiproxy-server"
    broken.write_text("#!/bin/sh\necho 'bind: permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("TOXIPROXY_SERVER_BIN", str(broken))
    with pytest.raises(EnvironmentProblem, match="permission denied"):
        start_toxiproxy()
