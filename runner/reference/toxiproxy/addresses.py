"""host:port strings as Go's net package reads and writes them; proxy listening sockets."""

from __future__ import annotations

import socket

from runner.reference.toxiproxy.errors import ApiError, internal

LISTEN_BACKLOG = 1024


def split_host_port(address: str) -> tuple[str, int]:
    """Split "host:port", "[v6]:port" or ":port"; ValueError carries Go's wording."""
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        host, rest = address[1:close], address[close + 1 :]
        if not rest.startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        port_text = rest[1:]
    else:
        if ":" not in address:
            raise ValueError(f"address {address}: missing port in address")
        host, port_text = address.rsplit(":", 1)
        if ":" in host:
            raise ValueError(f"address {address}: too many colons in address")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"address {port_text}: invalid port")
    return host, int(port_text)


def format_address(sockname: tuple[object, ...]) -> str:
    """A bound socket's address the way Go prints a net.Addr."""
    host, port = str(sockname[0]), int(str(sockname[1]))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listener(listen: str, default_host: str) -> socket.socket:
    """A listening socket for a proxy; failures become the 500 Toxiproxy answers with.

    An empty host (":0" or "") binds to `default_host` — the API's own host — rather than every
    interface, which Toxiproxy would do; the embedded server stays on the address it was given.
    """
    try:
        host, port = split_host_port(listen) if listen else ("", 0)
    except ValueError as exc:
        raise internal(f"listen tcp: {exc}") from None
    host = host or default_host
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise internal(f"listen tcp: lookup {host}: {exc.strerror}") from None
    family, kind, proto, _canonical, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Go sets SO_REUSEADDR on listeners, so a proxy re-enabled on its port binds again at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        shown = format_address((address[0], address[1]))
        reason = (exc.strerror or str(exc)).lower()
        raise ApiError(f"listen tcp {shown}: bind: {reason}", 500) from None
    return sock
