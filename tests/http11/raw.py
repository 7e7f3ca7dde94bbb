"""Raw bytes to a server and what came back: the test side of the wire."""

from __future__ import annotations

import re
import socket

_DATE_HEADER = re.compile(rb"date: [^\r\n]*")


def raw_exchange(port: int, data: bytes, wait_s: float = 1.0) -> bytes:
    """Send `data` on a new connection; everything read until the server closed (then `<EOF>`
    is appended) or went quiet for `wait_s`; the date header masked."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
            out += b"<EOF>"
        except TimeoutError:
            pass
        except OSError as exc:
            out += f"<{type(exc).__name__}>".encode()
    return _DATE_HEADER.sub(b"date: <date>", out)
