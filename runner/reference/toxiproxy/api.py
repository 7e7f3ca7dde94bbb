"""Toxiproxy's HTTP API: routes, handlers, status codes and bodies, as Toxiproxy 2.12 answers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable

from runner.reference.toxiproxy import gojson
from runner.reference.toxiproxy.errors import ApiError, bad_request_body, missing_field
from runner.reference.toxiproxy.http_server import Request, Response
from runner.reference.toxiproxy.proxies import ProxyCollection
from runner.reference.toxiproxy.toxics import parse_new_toxic, parse_toxic_update

logger = logging.getLogger(__name__)

# Reported by GET /version: the release it copies, marked (semver build metadata) as embedded.
VERSION = "2.12.0+mkdrill.embedded"
# Toxiproxy wraps its routes in http.TimeoutHandler(25 s): a request still running then (a proxy
# stop waiting for a hung dial) is answered 503 with Go's default body while it carries on.
HANDLER_TIMEOUT_S = 25.0
TIMEOUT_BODY = b"<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>"

JSON = "application/json"


def json_response(status: int, value: object) -> Response:
    """A JSON body as Toxiproxy writes it (compact, no trailing newline)."""
    return Response(status, gojson.encode(value), JSON)


def error_response(error: ApiError) -> Response:
    """Toxiproxy's apiError: JSON written through http.Error, hence text/plain and a newline."""
    body = gojson.encode({"error": error.message, "status": error.status}) + b"\n"
    return Response(
        error.status,
        body,
        "text/plain; charset=utf-8",
        (("X-Content-Type-Options", "nosniff"),),
    )


def plain_error(status: int, text: str) -> Response:
    """Go's http.Error with a plain message."""
    return Response(
        status,
        text.encode() + b"\n",
        "text/plain; charset=utf-8",
        (("X-Content-Type-Options", "nosniff"),),
    )


def _decode_object(body: bytes, go_type: str) -> dict[str, object]:
    try:
        return dict(gojson.require_object(gojson.decode_first_value(body), go_type))
    except gojson.BadBody as exc:
        raise bad_request_body(str(exc)) from None


Route = Callable[[Request, list[str]], Awaitable[Response]]


class ToxiproxyApi:
    """Maps each request to one operation on the proxy collection; one request at a time."""

    def __init__(
        self, proxies: ProxyCollection, handler_timeout_s: float = HANDLER_TIMEOUT_S
    ) -> None:
        self.proxies = proxies
        self.handler_timeout_s = handler_timeout_s
        self._lock = asyncio.Lock()
        self._running: set[asyncio.Task[Response]] = set()
        # (path shape, method) -> handler; "*" in a shape is one path segment.
        self._routes: dict[tuple[tuple[str, ...], str], Route] = {
            (("version",), "GET"): self.version,
            (("reset",), "POST"): self.reset,
            (("populate",), "POST"): self.populate,
            (("proxies",), "GET"): self.proxy_index,
            (("proxies",), "POST"): self.proxy_create,
            (("proxies", "*"), "GET"): self.proxy_show,
            (("proxies", "*"), "POST"): self.proxy_update,
            (("proxies", "*"), "PATCH"): self.proxy_update,
            (("proxies", "*"), "DELETE"): self.proxy_delete,
            (("proxies", "*", "toxics"), "GET"): self.toxic_index,
            (("proxies", "*", "toxics"), "POST"): self.toxic_create,
            (("proxies", "*", "toxics", "*"), "GET"): self.toxic_show,
            (("proxies", "*", "toxics", "*"), "POST"): self.toxic_update,
            (("proxies", "*", "toxics", "*"), "PATCH"): self.toxic_update,
            (("proxies", "*", "toxics", "*"), "DELETE"): self.toxic_delete,
        }

    async def handle(self, request: Request) -> Response:
        """Answer one request; never raises, so the server keeps serving after any bad request."""
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return plain_error(403, "User agent not allowed")  # Toxiproxy refuses browsers (CSRF)
        segments = [urllib.parse.unquote(part) for part in request.path.split("/")[1:]]
        if any(not segment for segment in segments):
            return plain_error(404, "404 page not found")
        shape = tuple("*" if self._is_name(segments, i) else s for i, s in enumerate(segments))
        route = self._routes.get((shape, request.method))
        if route is None:
            if any(key[0] == shape for key in self._routes):
                return Response(405)
            return plain_error(404, "404 page not found")
        names = [s for i, s in enumerate(segments) if self._is_name(segments, i)]
        answer = asyncio.get_running_loop().create_task(self._answer(route, request, names))
        self._running.add(answer)
        answer.add_done_callback(self._running.discard)
        try:
            response = await asyncio.wait_for(asyncio.shield(answer), self.handler_timeout_s)
        except TimeoutError:
            response = Response(503, TIMEOUT_BODY, "text/html; charset=utf-8")
        logger.debug("%s %s -> %d", request.method, request.path, response.status)
        return dataclasses.replace(
            response, extra_headers=(*response.extra_headers, *self._request_id())
        )

    async def _answer(self, route: Route, request: Request, names: list[str]) -> Response:
        async with self._lock:
            try:
                return await route(request, names)
            except ApiError as exc:
                return error_response(exc)
            except Exception:
                logger.exception("API handler failed for %s %s", request.method, request.path)
                return error_response(ApiError("internal error", 500))

    @staticmethod
    def _is_name(segments: list[str], index: int) -> bool:
        # /proxies/{proxy}/toxics/{toxic}: odd positions after "proxies" are names.
        return bool(segments) and segments[0] == "proxies" and index in (1, 3)

    # server ---------------------------------------------------------------------------------------

    async def version(self, request: Request, names: list[str]) -> Response:
        """GET /version."""
        body = f'{{"version": "{VERSION}"}}\n'.encode()
        return Response(200, body, "application/json;charset=utf-8")

    async def reset(self, request: Request, names: list[str]) -> Response:
        """POST /reset: every proxy enabled, every toxic removed."""
        await self.proxies.reset()
        return Response(204)

    async def populate(self, request: Request, names: list[str]) -> Response:
        """POST /populate: create or replace proxies from a list."""
        try:
            value = gojson.decode_first_value(request.body)
            if value is None:
                value = []
            if not isinstance(value, list):
                kind = gojson.json_kind(value).split(" ")[0]
                raise gojson.BadBody(
                    f"json: cannot unmarshal {kind} into Go value of type []toxiproxy.Proxy"
                )
            specs: list[tuple[str, str, str, bool]] = []
            for item in value:
                obj = gojson.require_object(item, "toxiproxy.Proxy")
                specs.append(
                    (
                        # Go decodes into an anonymous struct embedding Proxy: no struct name.
                        gojson.string_field(obj, "name", "", ""),
                        gojson.string_field(obj, "listen", "", ""),
                        gojson.string_field(obj, "upstream", "", ""),
                        gojson.bool_field(obj, "enabled", "", True),
                    )
                )
        except gojson.BadBody as exc:
            return self._populate_answer([], bad_request_body(str(exc)))
        for index, (name, _listen, upstream, _enabled) in enumerate(specs, start=1):
            if not name:
                return self._populate_answer([], missing_field(f"name at proxy {index}"))
            if not upstream:
                return self._populate_answer([], missing_field(f"upstream at proxy {index}"))
        applied, error = await self.proxies.populate(specs)
        return self._populate_answer([proxy.to_json() for proxy in applied], error)

    @staticmethod
    def _populate_answer(proxies: list[dict[str, object]], error: ApiError | None) -> Response:
        body: dict[str, object] = {}
        if error is not None:
            body = {"error": error.message, "status": error.status}
        body["proxies"] = proxies or None  # Go marshals the empty slice it builds as null
        return json_response(error.status if error is not None else 201, body)

    # proxies --------------------------------------------------------------------------------------

    async def proxy_index(self, request: Request, names: list[str]) -> Response:
        """GET /proxies: every proxy by name, in name order (Go marshals a map sorted by key)."""
        proxies = self.proxies.proxies
        return json_response(200, {name: proxies[name].to_json() for name in sorted(proxies)})

    async def proxy_create(self, request: Request, names: list[str]) -> Response:
        """POST /proxies: 201 with the proxy, listening unless enabled is false."""
        obj = _decode_object(request.body, "toxiproxy.Proxy")
        try:
            name = gojson.string_field(obj, "name", "Proxy", "")
            listen = gojson.string_field(obj, "listen", "Proxy", "")
            upstream = gojson.string_field(obj, "upstream", "Proxy", "")
            enabled = gojson.bool_field(obj, "enabled", "Proxy", True)
        except gojson.BadBody as exc:
            raise bad_request_body(str(exc)) from None
        if not name:
            raise missing_field("name")
        if not upstream:
            raise missing_field("upstream")
        proxy = self.proxies.new_proxy(name, listen, upstream)
        await self.proxies.add(proxy, enabled)
        return json_response(201, proxy.to_json())

    async def proxy_show(self, request: Request, names: list[str]) -> Response:
        """GET /proxies/{proxy}."""
        return json_response(200, self.proxies.get(names[0]).to_json())

    async def proxy_update(self, request: Request, names: list[str]) -> Response:
        """POST or PATCH /proxies/{proxy}: fields left out keep their values."""
        proxy = self.proxies.get(names[0])
        obj = _decode_object(request.body, "toxiproxy.Proxy")
        try:
            listen = gojson.string_field(obj, "listen", "Proxy", proxy.listen)
            upstream = gojson.string_field(obj, "upstream", "Proxy", proxy.upstream)
            enabled = gojson.bool_field(obj, "enabled", "Proxy", proxy.enabled)
        except gojson.BadBody as exc:
            raise bad_request_body(str(exc)) from None
        await proxy.update(listen, upstream, enabled)
        return json_response(200, proxy.to_json())

    async def proxy_delete(self, request: Request, names: list[str]) -> Response:
        """DELETE /proxies/{proxy}: 204."""
        await self.proxies.remove(names[0])
        return Response(204)

    # toxics ---------------------------------------------------------------------------------------

    async def toxic_index(self, request: Request, names: list[str]) -> Response:
        """GET /proxies/{proxy}/toxics: a list, upstream toxics first."""
        proxy = self.proxies.get(names[0])
        return json_response(200, [toxic.to_json() for toxic in proxy.toxic_list()])

    async def toxic_create(self, request: Request, names: list[str]) -> Response:
        """POST /proxies/{proxy}/toxics: 200 with the toxic and its defaults filled in."""
        proxy = self.proxies.get(names[0])
        toxic = parse_new_toxic(request.body, proxy.toxic_names())
        proxy.add_toxic(toxic)
        return json_response(200, toxic.to_json())

    async def toxic_show(self, request: Request, names: list[str]) -> Response:
        """GET /proxies/{proxy}/toxics/{toxic}."""
        return json_response(200, self.proxies.get(names[0]).get_toxic(names[1]).to_json())

    async def toxic_update(self, request: Request, names: list[str]) -> Response:
        """POST or PATCH /proxies/{proxy}/toxics/{toxic}: attributes and toxicity."""
        proxy = self.proxies.get(names[0])
        toxic = parse_toxic_update(request.body, proxy.get_toxic(names[1]))
        proxy.update_toxic(toxic)
        return json_response(200, toxic.to_json())

    async def toxic_delete(self, request: Request, names: list[str]) -> Response:
        """DELETE /proxies/{proxy}/toxics/{toxic}: 204."""
        self.proxies.get(names[0]).remove_toxic(names[1])
        return Response(204)

    @staticmethod
    def _request_id() -> tuple[tuple[str, str], ...]:
        return (("X-Toxiproxy-Request-Id", secrets.token_hex(10)),)
