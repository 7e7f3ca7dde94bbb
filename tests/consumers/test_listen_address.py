"""--proxy-listen: parsed, defaulted from the pin, and a taken port named with what holds it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from runner.backends.listen_address import (
    ListenAddress,
    describe_holder,
    ensure_free,
    listen_from_base_url,
    parse_listen,
)
from runner.errors import DefinitionError, EnvironmentProblem


def test_parse_and_default_from_the_pin() -> None:
    assert parse_listen("127.0.0.1:4010") == ListenAddress("127.0.0.1", 4010)
    assert parse_listen("[::1]:4010") == ListenAddress("::1", 4010)
    assert listen_from_base_url("http://127.0.0.1:4010") == ListenAddress("127.0.0.1", 4010)
    assert listen_from_base_url("http://localhost") == ListenAddress("localhost", 80)


@pytest.mark.parametrize("text", ["4010", "127.0.0.1:", ":4010", "127.0.0.1:99999", "h:x"])
def test_bad_listen_addresses_are_one_line_bad_input(text: str) -> None:
    with pytest.raises(DefinitionError, match=r"--proxy-listen: expected HOST:PORT"):
        parse_listen(text)


def test_a_taken_port_names_the_process_that_holds_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(EnvironmentProblem) as caught:
            ensure_free(ListenAddress("127.0.0.1", port))
    message = str(caught.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}: port already in use by pid {os.getpid()} (" in message
    assert caught.value.exit_code == 3


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ensure_free(ListenAddress("127.0.0.1", port))


def test_without_proc_the_holder_is_unnamed(tmp_path: Path) -> None:
    assert describe_holder(4010, proc=tmp_path) == "another process (not visible from here)"


def test_a_port_left_in_time_wait_by_the_last_run_is_free() -> None:
    """The proxy closes first, so its port keeps TIME_WAIT entries after a run; a listener binds."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()  # the server side closes first: TIME_WAIT on the listening port
            client.recv(1)
    ensure_free(ListenAddress("127.0.0.1", port))
