"""The TLS context every httpx client of the runner shares, built once per process.

httpx builds a new SSLContext for each Client and loads the whole CA bundle into it: about 100 ms,
several times that on a busy machine. The runner makes several clients per drill, one of them
inside the restore watch, where that start-up was counted as time-to-restore, and almost always
speaks plain HTTP on loopback. The shared context verifies exactly as httpx's default does
(certifi, or SSL_CERT_FILE / SSL_CERT_DIR, read when it is made); only the loading is paid once,
and only by a run that does make a TLS connection: the certificates are loaded at its first
handshake. Until then the context already requires a verified certificate and a matching host
name, so it never accepts what it could not check.
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
import threading
from typing import Any


class _VerifyingContext(ssl.SSLContext):
    """httpx's default verifying context whose CA certificates are loaded on the first handshake."""

    _where: tuple[str | None, str | None] = (None, None)  # cafile, capath
    _loaded = False
    _lock = threading.Lock()

    def _load_certificates(self) -> None:
        with self._lock:
            if not self._loaded:
                cafile, capath = self._where
                self.load_verify_locations(cafile=cafile, capath=capath)
                self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_certificates()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_certificates()
        return super().wrap_bio(*args, **kwargs)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, made on first use and reused by every later client."""
    context = _VerifyingContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    keylog = os.environ.get("SSLKEYLOGFILE")  # as ssl.create_default_context does
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    if os.environ.get("SSL_CERT_FILE"):
        context._where = (os.environ["SSL_CERT_FILE"], None)
    elif os.environ.get("SSL_CERT_DIR"):
        context._where = (None, os.environ["SSL_CERT_DIR"])
    else:
        import certifi

        context._where = (certifi.where(), None)
    return context
