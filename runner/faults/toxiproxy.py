"""Network faults through a Toxiproxy API (a real toxiproxy-server or the embedded one), with undo.

Requests go through toxiproxy-python's APIConsumer (its HTTP layer, which maps 404/409/400 to its
NotFound/ProxyExists/InvalidToxic), one subclass per controller so two controllers never share the
client's class-level host and port. Its Proxy/Toxiproxy objects are not used: they take no timeout,
read the global host/port, swallow 5xx answers (a listen port in use comes back as a 500) and have
no way to change a proxy's upstream. Finding and starting a server lives in toxiproxy_server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from runner.errors import CleanupError, DefinitionError, EnvironmentProblem, InjectionError
from runner.faults.toxiproxy_server import (
    ToxiproxyHandle,
    find_toxiproxy_server,
    start_toxiproxy,
)

__all__ = [
    "ToxiproxyControl",
    "ToxiproxyHandle",
    "Undo",
    "find_toxiproxy_server",
    "start_toxiproxy",
]

logger = logging.getLogger(__name__)

STREAMS = ("upstream", "downstream")


class Undo:
    """One undo step: does its work once, then nothing; harmless when the server is already gone."""

    def __init__(self, description: str, action: Callable[[], None]) -> None:
        self.description = description
        self._action = action
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self._action()
        self.done = True

    def __repr__(self) -> str:
        return f"Undo({self.description!r}, done={self.done})"


def _error_text(exc: Exception | bytes | str) -> str:
    """The "error" field of a Toxiproxy error body, else the body itself, on one line."""
    raw = exc.args[0] if isinstance(exc, Exception) and exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        return str(json.loads(text)["error"])
    return " ".join(text.split())


class ToxiproxyControl:
    """Proxies and toxics on one Toxiproxy API; what the drill engine injects faults with."""

    def __init__(self, api_url: str, timeout: float = 5.0) -> None:
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme != "http" or not parts.hostname:
            raise DefinitionError(
                f"toxiproxy URL {api_url!r}: must look like http://127.0.0.1:8474"
            )
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._api: type[Any] = type(
            "BoundAPIConsumer",
            (APIConsumer,),
            {"host": parts.hostname, "port": parts.port or 8474},
        )

    # requests -------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        doing: str,
        failure: type[Exception],
        body: Mapping[str, object] | None = None,
    ) -> requests.Response:
        """One call: NotFound/ProxyExists/InvalidToxic pass through, the rest become `failure`."""
        kwargs: dict[str, object] = {"timeout": self.timeout}
        if body is not None:
            kwargs["json"] = body
        try:
            response: requests.Response = getattr(self._api, method)(path, **kwargs)
        except (NotFound, ProxyExists, InvalidToxic):
            raise
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise failure(
                f"toxiproxy API {self.api_url} unreachable while {doing} ({reason}); "
                "is the toxiproxy server running?"
            ) from exc
        if response.status_code >= 400:
            raise failure(
                f"toxiproxy API {self.api_url} refused {doing}: "
                f"{response.status_code} {_error_text(response.content)}"
            )
        return response

    def _json(self, response: requests.Response, doing: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise EnvironmentProblem(
                f"toxiproxy API {self.api_url} answered {doing} with a non-JSON body"
            ) from exc

    def _undo_request(self, method: str, path: str, doing: str, body: Mapping[str, object]) -> None:
        """An undo's request: a missing proxy/toxic or a vanished server means nothing to undo."""
        try:
            self._request(method, path, doing, CleanupError, body if method == "post" else None)
        except (NotFound, ProxyExists, InvalidToxic) as exc:
            logger.debug("nothing to undo for %s: %s", doing, _error_text(exc))
        except CleanupError as exc:
            if isinstance(exc.__cause__, requests.RequestException):
                logger.info("toxiproxy gone, skipping %s: %s", doing, exc)
                return
            raise

    # queries --------------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (JSON from 2.6 on, plain text before)."""
        response = self._request("get", "/version", "reading /version", EnvironmentProblem)
        text = response.text.strip()
        with contextlib.suppress(ValueError, TypeError, KeyError):
            return str(json.loads(text)["version"])
        return text

    def proxy(self, name: str) -> dict[str, Any] | None:
        """A proxy's JSON, or None when there is no such proxy."""
        doing = f"reading proxy {name!r}"
        try:
            response = self._request("get", f"/proxies/{_quote(name)}", doing, EnvironmentProblem)
        except NotFound:
            return None
        result: dict[str, Any] = self._json(response, doing)
        return result

    # proxies --------------------------------------------------------------------------------------

    def ensure_proxy(self, name: str, listen: str, upstream: str) -> str:
        """Make proxy `name` listen on `listen` and forward to `upstream`, enabled, without toxics.

        Returns the address it really listens on (a requested port 0 becomes the port picked).
        """
        current = self.proxy(name)
        if current is not None:
            if current.get("upstream") == upstream and _same_listen(
                current.get("listen", ""), listen
            ):
                if not current.get("enabled", False):
                    self._set_fields(name, {"enabled": True}, EnvironmentProblem, "enabling")
                self.remove_all(name)
                return str(current["listen"])
            self.delete_proxy(name)
        doing = f"creating proxy {name!r} on {listen} -> {upstream}"
        try:
            response = self._request(
                "post",
                "/proxies",
                doing,
                EnvironmentProblem,
                {"name": name, "listen": listen, "upstream": upstream, "enabled": True},
            )
        except (ProxyExists, InvalidToxic) as exc:
            raise EnvironmentProblem(
                f"toxiproxy API {self.api_url} refused {doing}: {_error_text(exc)}"
            ) from exc
        created: dict[str, Any] = self._json(response, doing)
        return str(created["listen"])

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy; one that does not exist is fine."""
        with contextlib.suppress(NotFound):
            self._request(
                "delete", f"/proxies/{_quote(name)}", f"deleting proxy {name!r}", EnvironmentProblem
            )

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("post", "/reset", "resetting", EnvironmentProblem)

    def remove_all(self, proxy: str) -> None:
        """Remove every toxic of a proxy; a missing proxy has none."""
        doing = f"listing toxics of {proxy!r}"
        try:
            response = self._request(
                "get", f"/proxies/{_quote(proxy)}/toxics", doing, EnvironmentProblem
            )
        except NotFound:
            return
        for toxic in self._json(response, doing):
            with contextlib.suppress(NotFound):
                self._request(
                    "delete",
                    f"/proxies/{_quote(proxy)}/toxics/{_quote(str(toxic['name']))}",
                    f"removing toxic {toxic['name']!r} from {proxy!r}",
                    EnvironmentProblem,
                )

    # injectors ------------------------------------------------------------------------------------

    def add_toxic(
        self,
        proxy: str,
        type: str,
        stream: str,
        attributes: Mapping[str, int],
        toxicity: float = 1.0,
    ) -> Undo:
        """Add a toxic under a fresh name; the undo removes exactly that toxic."""
        if stream not in STREAMS:
            raise InjectionError(
                f"toxic {type!r} on {proxy!r}: stream must be upstream or downstream ({stream!r})"
            )
        name = f"mkdrill_{type}_{stream}_{secrets.token_hex(3)}"
        doing = f"adding a {type} toxic ({stream}) to proxy {proxy!r}"
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        try:
            self._request("post", f"/proxies/{_quote(proxy)}/toxics", doing, InjectionError, body)
        except (NotFound, ProxyExists, InvalidToxic) as exc:
            raise InjectionError(
                f"toxiproxy API {self.api_url} refused {doing}: {_error_text(exc)}"
            ) from exc
        path = f"/proxies/{_quote(proxy)}/toxics/{_quote(name)}"
        return Undo(
            f"remove toxic {name} from {proxy}",
            lambda: self._undo_request("delete", path, f"removing toxic {name!r}", {}),
        )

    def disable(self, proxy: str) -> Undo:
        """Disable a proxy (connections dropped, new ones refused); the undo restores its state."""
        current = self._existing(proxy, InjectionError, "disabling it")
        self._set_fields(proxy, {"enabled": False}, InjectionError, "disabling")
        was_enabled = bool(current.get("enabled", True))
        return Undo(
            f"re-enable proxy {proxy}",
            lambda: self._undo_request(
                "post",
                f"/proxies/{_quote(proxy)}",
                f"re-enabling proxy {proxy!r}",
                {"enabled": was_enabled},
            ),
        )

    def set_upstream(self, proxy: str, upstream: str) -> Undo:
        """Point a proxy at another upstream (live connections drop); the undo points it back."""
        current = self._existing(proxy, InjectionError, f"switching its upstream to {upstream}")
        previous = str(current["upstream"])
        self._set_fields(
            proxy,
            {"upstream": upstream},
            InjectionError,
            f"switching the upstream to {upstream} on",
        )
        return Undo(
            f"restore upstream {previous} on proxy {proxy}",
            lambda: self._undo_request(
                "post",
                f"/proxies/{_quote(proxy)}",
                f"restoring upstream {previous} on proxy {proxy!r}",
                {"upstream": previous},
            ),
        )

    def _existing(self, proxy: str, failure: type[Exception], doing: str) -> dict[str, Any]:
        try:
            current = self.proxy(proxy)
        except EnvironmentProblem as exc:
            raise failure(str(exc)) from exc
        if current is None:
            raise failure(
                f"toxiproxy API {self.api_url}: no proxy {proxy!r} for {doing}; create it first"
            )
        return current

    def _set_fields(
        self, proxy: str, fields: Mapping[str, object], failure: type[Exception], doing: str
    ) -> None:
        try:
            self._request(
                "post", f"/proxies/{_quote(proxy)}", f"{doing} proxy {proxy!r}", failure, fields
            )
        except (NotFound, ProxyExists, InvalidToxic) as exc:
            raise failure(
                f"toxiproxy API {self.api_url} refused {doing} proxy {proxy!r}: {_error_text(exc)}"
            ) from exc


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _same_listen(actual: str, wanted: str) -> bool:
    """Whether a proxy listening on `actual` satisfies a request for `wanted` (port 0: any port)."""
    if actual == wanted:
        return True
    actual_host, _, actual_port = actual.rpartition(":")
    wanted_host, _, wanted_port = wanted.rpartition(":")
    loopback = {"127.0.0.1", "localhost", ""}
    same_host = actual_host == wanted_host or {actual_host, wanted_host} <= loopback
    return same_host and wanted_port in ("0", actual_port)
