"""Secret redaction: values of secret-looking settings, and credentials in URLs, never reach a report."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "KEY")
MASK = "***"
# Shorter values or flag words would blank out ordinary report text (`1`, `true`) and hide nothing.
MIN_SECRET_LENGTH = 4
_NOT_SECRET = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null"})
# Free-form mappings live outside the samples; samples are typed and carry no named settings.
_SKIP_KEYS_WHEN_COLLECTING = frozenset({"samples"})
# `scheme://user:password@host`: the user-info part is a credential wherever it appears.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@\"'<>]+)@")


def url_credentials(text: str) -> set[str]:
    """The user-info parts (`user:password`, and the password alone) of every URL in `text`."""
    found: set[str] = set()
    for match in _URL_USERINFO.finditer(text):
        userinfo = match.group("userinfo")
        found.add(userinfo)
        _user, colon, password = userinfo.partition(":")
        if colon and password:
            found.add(password)
    return found


def mask_url_credentials(text: str) -> str:
    """`http://user:pw@host` → `http://***@host`, for every URL in `text`."""
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def looks_secret(name: str) -> bool:
    """True for setting names like `GITHUB_TOKEN`, `db_password`, `API_KEY`."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


def _worth_masking(value: str) -> bool:
    stripped = value.strip()
    return len(stripped) >= MIN_SECRET_LENGTH and stripped.lower() not in _NOT_SECRET


def _escaped_forms(value: str) -> set[str]:
    # A renderer may have escaped the value before the text pass sees it; mask those spellings too.
    return {
        value,
        html.escape(value, quote=True),
        html.escape(value, quote=False),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


def collect_secret_values(data: Any) -> set[str]:
    """Values stored under secret-looking keys anywhere in `data` (the samples excepted)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, value in item.items():
                if key in _SKIP_KEYS_WHEN_COLLECTING:
                    continue
                if isinstance(key, str) and looks_secret(key) and isinstance(value, str):
                    found.add(value)
                elif isinstance(value, str):
                    found |= url_credentials(value)
                elif isinstance(value, Mapping | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(x for x in item if isinstance(x, Mapping | list))
            found.update(c for x in item if isinstance(x, str) for c in url_credentials(x))
    return found


class Redactor:
    """Masks a fixed set of secret values in text and in JSON-like data."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if _worth_masking(s)}
        forms: set[str] = set()
        for value in values:
            forms |= {f for f in _escaped_forms(value) if f}
        # Longest first, so a secret containing another is masked whole.
        self._forms = sorted(forms, key=len, reverse=True)
        self._values = sorted(values, key=len, reverse=True)

    @classmethod
    def for_report(cls, data: Any, environ: Mapping[str, str] | None = None) -> Redactor:
        """Secrets of the process environment plus those stored under secret keys inside `data`."""
        env = os.environ if environ is None else environ
        from_env = {value for name, value in env.items() if looks_secret(name)}
        in_env_urls = {c for value in env.values() for c in url_credentials(value)}
        return cls(from_env | in_env_urls | collect_secret_values(data))

    def __bool__(self) -> bool:
        return bool(self._values)

    def occurs_in(self, text: str) -> bool:
        """True when any secret (in any escaped spelling) or URL credential appears in `text`."""
        return any(form in text for form in self._forms) or bool(_URL_USERINFO.search(text))

    def redact_text(self, text: str) -> str:
        """Replace every secret, raw or escaped, and every URL's credentials with the mask."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return mask_url_credentials(text)

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like `data` with secrets masked in every string, keys included."""
        if isinstance(data, str):
            return self._redact_string(data)
        if isinstance(data, Mapping):
            return {self._redact_key(k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.redact_data(v) for v in data]
        return data

    def _redact_key(self, key: Any) -> Any:
        return self._redact_string(key) if isinstance(key, str) else key

    def _redact_string(self, value: str) -> str:
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        return mask_url_credentials(value)
