"""The shared TLS context: built once, verifying as httpx's default does, its CA bundle loaded only
by a run that makes a TLS connection."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from runner.tls import shared_ssl_context


def fresh_context() -> ssl.SSLContext:
    """A context as the first call in a process makes it (the shared one may have shaken hands)."""
    return shared_ssl_context.__wrapped__()


def test_one_context_per_process() -> None:
    assert shared_ssl_context() is shared_ssl_context()


def test_the_shared_context_still_verifies_certificates_and_host_names() -> None:
    context = fresh_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_the_ca_bundle_is_loaded_at_the_first_handshake_not_before() -> None:
    context = fresh_context()
    assert context.cert_store_stats()["x509_ca"] == 0
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.com")
    assert context.cert_store_stats()["x509_ca"] > 0


def _handshake(client_context: ssl.SSLContext, server_context: ssl.SSLContext) -> None:
    """Both ends over memory until the client's handshake ends (or raises)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(20):
        try:
            client.do_handshake()
            return
        except ssl.SSLWantReadError:
            pass
        s_in.write(c_out.read())
        try:
            server.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError:
            pass  # the client's alert after it refused the certificate
        c_in.write(s_out.read())


def test_a_self_signed_certificate_is_refused(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(fresh_context(), server_context)
