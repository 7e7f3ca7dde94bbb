"""host:port strings as Go's net package reads and writes them; listening and dialling sockets."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import select
import socket
from pathlib import Path
from typing import Any

from runner.reference.toxiproxy.errors import ApiError, internal

logger = logging.getLogger(__name__)

SOMAXCONN_FILE = Path("/proc/sys/net/core/somaxconn")
GO_SOMAXCONN = 128  # syscall.SOMAXCONN on Linux, Go's fallback when the file cannot be read


def listen_backlog() -> int:
    """The listen backlog Go's net.Listen asks for: net.core.somaxconn (4096 on recent kernels)."""
    try:
        value = int(SOMAXCONN_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return GO_SOMAXCONN
    return min(value, 65535) if value > 0 else GO_SOMAXCONN


def _literal(host: str, port: int) -> list[tuple[Any, ...]] | None:
    """An IP literal needs no lookup (getaddrinfo would cost a thread-pool round trip per dial)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]


async def dial(address: str) -> socket.socket | None:
    """Go's net.Dial("tcp", address) with no timeout: each resolved address in turn, or None.

    A connect to a host whose listen queue is full waits for the kernel's SYN retries (over two
    minutes in all); nothing here cuts that short, as nothing does in Toxiproxy.
    """
    loop = asyncio.get_running_loop()
    try:
        host, port = split_host_port(address)
        infos = _literal(host, port) or await loop.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM
        )
    except (ValueError, OSError) as exc:
        logger.info("dial %s: %s", address, exc)
        return None
    for family, kind, proto, _canonical, resolved in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            if not _connected_at_once(sock, resolved):
                await loop.sock_connect(sock, resolved)
        except OSError as exc:
            sock.close()
            logger.info("dial %s (%s): %s", address, resolved[0], exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    return None


class DialPending(Exception):
    """A dial `dial_at_once` could not finish without waiting; `finish_dial` waits for it.

    `sock` is the connect in progress (None: nothing started, the address needs a lookup).
    """

    def __init__(
        self, sock: socket.socket | None = None, resolved: tuple[Any, ...] | None = None
    ) -> None:
        super().__init__("dial in progress")
        self.sock = sock
        self.resolved = resolved


def dial_at_once(address: str) -> socket.socket | None:
    """`dial` without a turn of the event loop, for an IP literal whose connect completes at once
    (None: refused); a connect still in progress, or an address to look up, raises DialPending."""
    try:
        host, port = split_host_port(address)
    except ValueError:
        raise DialPending from None
    infos = _literal(host, port)
    if infos is None:
        raise DialPending
    family, kind, proto, _canonical, resolved = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        if _connected_at_once(sock, resolved):
            return sock
    except OSError as exc:
        sock.close()
        logger.info("dial %s (%s): %s", address, resolved[0], exc)
        return None
    raise DialPending(sock, resolved)


async def finish_dial(address: str, pending: DialPending) -> socket.socket | None:
    """The rest of a dial `dial_at_once` started, with no timeout (or all of it: `dial`)."""
    sock, resolved = pending.sock, pending.resolved
    if sock is None or resolved is None:
        return await dial(address)
    try:
        await asyncio.get_running_loop().sock_connect(sock, resolved)
    except OSError as exc:
        sock.close()
        logger.info("dial %s (%s): %s", address, resolved[0], exc)
        return None
    except BaseException:
        sock.close()
        raise
    return sock


def _connected_at_once(sock: socket.socket, address: tuple[Any, ...]) -> bool:
    """Start a non-blocking connect; True when it is already done (a loopback handshake often
    is by the time connect() returns), so the dial costs no turn of the event loop.

    False leaves the connect in progress for `sock_connect` to wait for; a refused connect raises.
    """
    code = sock.connect_ex(address)
    if code == 0:
        return True
    if code not in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY, errno.EINTR):
        raise OSError(code, os.strerror(code))
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    if not poller.poll(0):
        return False
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code != 0:
        raise OSError(code, os.strerror(code))
    return True


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
        sock.listen(listen_backlog())
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        shown = format_address((address[0], address[1]))
        reason = (exc.strerror or str(exc)).lower()
        raise ApiError(f"listen tcp {shown}: bind: {reason}", 500) from None
    return sock
