"""The consumer's admin-route token: generated per environment, given to the consumer and the runner only."""

from __future__ import annotations

import hmac
import secrets

ADMIN_TOKEN_ENV = "MKDRILL_ADMIN_TOKEN"
"""The reference consumer's variable: the token its `/v1/admin/env` route requires (none: route off)."""


def new_admin_token() -> str:
    """A fresh unguessable token for one environment."""
    return secrets.token_urlsafe(24)


def admin_headers(token: str) -> dict[str, str]:
    """The request headers that carry `token` to the admin route."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def token_matches(expected: str, authorization: str | None) -> bool:
    """Whether an `Authorization` header carries `expected` (constant-time; never for an empty one)."""
    if not expected or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization.removeprefix("Bearer ").encode(), expected.encode())
