"""The TLS context every httpx client of the runner shares, built once per process.

httpx builds a new SSLContext for each Client and loads the whole CA bundle into it: about 100 ms,
several times that on a busy machine. The runner makes several clients per drill, one of them
inside the restore watch, where that start-up was counted as time-to-restore, and almost always
speaks plain HTTP on loopback. The shared context verifies exactly as httpx's default does
(certifi, or SSL_CERT_FILE / SSL_CERT_DIR); only the loading is paid once.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, made on first use and reused by every later client."""
    return httpx.create_ssl_context()
