"""The shared TLS context: built once, and verifying as httpx's default does."""

from __future__ import annotations

import ssl

from runner.tls import shared_ssl_context


def test_one_context_per_process() -> None:
    assert shared_ssl_context() is shared_ssl_context()


def test_the_shared_context_still_verifies_certificates_and_host_names() -> None:
    context = shared_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 0
