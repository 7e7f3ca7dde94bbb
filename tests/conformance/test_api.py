"""Every endpoint of the Toxiproxy HTTP API: status codes, bodies, defaults, error shapes."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from tests.conformance.conftest import Proxies
from tests.conformance.netutil import TcpServer, connect, recv_exactly, split_listen

PROXY_KEYS = ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
TOXIC_FIELDS = {"name", "type", "stream", "toxicity", "attributes"}


def error_of(response: httpx.Response) -> dict[str, object]:
    body: dict[str, object] = response.json()
    return body


def test_version_answers_a_version(api: httpx.Client) -> None:
    """Real: GET /version answers {"version": "X.Y.Z"} and a newline, as JSON with a charset
    (api.go Version); 2.x semver (the embedded server adds +build metadata)."""
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text.endswith("\n")
    assert re.fullmatch(r"2\.\d+\.\d+(\+[\w.]+)?", response.json()["version"])


def test_create_proxy_answers_201_with_the_real_listen_port(
    proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: POST /proxies is 201 with the port actually bound (proxy.go listen sets Listen)."""
    created = proxies.create(echo_server.address)
    assert created["enabled"] is True
    assert created["toxics"] == []
    assert created["upstream"] == echo_server.address
    host, port = split_listen(str(created["listen"]))
    assert host == "127.0.0.1"
    assert port != 0


def test_proxy_json_has_go_field_order_and_the_logger_field(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a proxy marshals as struct Proxy then toxics, its exported *zerolog.Logger as {}
    (api.go proxyWithToxics); every route showing a proxy says the same."""
    created = proxies.create(echo_server.address)
    assert list(created) == PROXY_KEYS
    assert created["Logger"] == {}
    name = created["name"]
    assert list(api.get(f"/proxies/{name}").json()) == PROXY_KEYS
    assert list(api.post(f"/proxies/{name}", json={}).json()) == PROXY_KEYS
    assert list(api.get("/proxies").json()[name]) == PROXY_KEYS


def test_proxy_index_is_keyed_in_name_order(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: GET /proxies marshals a Go map, whose keys encoding/json writes sorted."""
    for suffix in ("c", "a", "b"):
        body = {"name": f"{proxies.name()}_{suffix}", "listen": "127.0.0.1:0",
                "upstream": echo_server.address}  # fmt: skip
        proxies.names.append(str(body["name"]))
        assert api.post("/proxies", json=body).status_code == 201
    keys = list(api.get("/proxies").json())
    assert keys == sorted(keys)


def test_created_proxy_is_listed_and_shown(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: GET /proxies and GET /proxies/{name} show the proxy as created (api.go ProxyIndex, ProxyShow)."""
    created = proxies.create(echo_server.address)
    name = created["name"]
    listed = api.get("/proxies")
    assert listed.status_code == 200
    assert listed.json()[name] == created
    shown = api.get(f"/proxies/{name}")
    assert shown.status_code == 200
    assert shown.json() == created


def test_create_disabled_proxy_does_not_listen(proxies: Proxies, echo_server: TcpServer) -> None:
    """Real: "enabled": false creates the proxy without starting it (proxy_collection.go Add)."""
    created = proxies.create(echo_server.address, enabled=False)
    assert created["enabled"] is False


def test_duplicate_proxy_is_409(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a taken name is 409 "proxy already exists" (ErrProxyAlreadyExists)."""
    created = proxies.create(echo_server.address)
    again = api.post("/proxies", json={"name": created["name"], "upstream": echo_server.address})
    assert again.status_code == 409
    assert error_of(again) == {"error": "proxy already exists", "status": 409}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "conf_no_upstream"}, "missing required field: upstream"),
    ],
)
def test_missing_field_is_400(api: httpx.Client, body: dict[str, str], message: str) -> None:
    """Real: no name or no upstream is 400 "missing required field: ..." (api.go ProxyCreate)."""
    response = api.post("/proxies", json=body)
    assert response.status_code == 400
    assert error_of(response) == {"error": message, "status": 400}


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'{"name": 5}'])
def test_unparseable_proxy_body_is_400(api: httpx.Client, body: bytes) -> None:
    """Real: a body encoding/json cannot decode is 400 "bad request body: ..." (ErrBadRequestBody)."""
    response = api.post("/proxies", content=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == 400
    assert str(error["error"]).startswith("bad request body: ")


def test_listen_port_in_use_is_the_servers_bind_error(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a listen port in use is 500 with net.Listen's error, and no proxy is kept (proxy.go listen)."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        body = {
            "name": proxies.name(),
            "listen": f"127.0.0.1:{port}",
            "upstream": echo_server.address,
        }
        response = api.post("/proxies", json=body)
    assert response.status_code == 500
    error = error_of(response)
    assert error["status"] == 500
    assert "address already in use" in str(error["error"])
    assert api.get(f"/proxies/{body['name']}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/proxies/conf_missing"),
        ("POST", "/proxies/conf_missing"),
        ("DELETE", "/proxies/conf_missing"),
        ("GET", "/proxies/conf_missing/toxics"),
        ("POST", "/proxies/conf_missing/toxics"),
        ("GET", "/proxies/conf_missing/toxics/latency_downstream"),
        ("DELETE", "/proxies/conf_missing/toxics/latency_downstream"),
    ],
)
def test_unknown_proxy_is_404(api: httpx.Client, method: str, path: str) -> None:
    """Real: every proxy route answers 404 "proxy not found" for an unknown name (ErrProxyNotFound)."""
    body = b'{"type": "latency"}' if method == "POST" else None
    response = api.request(method, path, content=body)
    assert response.status_code == 404
    assert error_of(response) == {"error": "proxy not found", "status": 404}


def test_update_proxy_disables_and_enables(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: POST /proxies/{name} with enabled false/true stops and starts it (proxy.go Update)."""
    name = proxies.create(echo_server.address)["name"]
    disabled = api.post(f"/proxies/{name}", json={"enabled": False})
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    enabled = api.post(f"/proxies/{name}", json={"enabled": True})
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True


def test_update_proxy_changes_upstream_and_keeps_the_rest(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: fields left out of an update keep their values (api.go ProxyUpdate defaults)."""
    created = proxies.create(echo_server.address)
    response = api.post(f"/proxies/{created['name']}", json={"upstream": "127.0.0.1:9"})
    assert response.status_code == 200
    updated = response.json()
    assert updated["upstream"] == "127.0.0.1:9"
    assert updated["listen"] == created["listen"]
    assert updated["enabled"] is True


def test_update_proxy_moves_listen(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a new listen address restarts the proxy there (proxy.go Update, Differs)."""
    created = proxies.create(echo_server.address)
    response = api.post(f"/proxies/{created['name']}", json={"listen": "127.0.0.1:0"})
    assert response.status_code == 200
    moved = response.json()["listen"]
    assert moved != created["listen"]
    with connect(str(moved)) as client:
        client.sendall(b"moved")
        assert recv_exactly(client, 5) == b"moved"


def test_delete_proxy_is_204_and_empty(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: DELETE /proxies/{name} is 204 with no body (api.go ProxyDelete)."""
    name = proxies.create(echo_server.address)["name"]
    response = api.delete(f"/proxies/{name}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/proxies/{name}").status_code == 404


def test_add_toxic_fills_toxiproxy_defaults(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a new toxic defaults to stream downstream, toxicity 1, name type_stream, zero attributes (toxic_collection.go AddToxicJson)."""
    name = proxies.create(echo_server.address)["name"]
    response = api.post(f"/proxies/{name}/toxics", json={"type": "latency"})
    assert response.status_code == 200
    toxic = response.json()
    assert set(toxic) == TOXIC_FIELDS
    assert toxic["name"] == "latency_downstream"
    assert toxic["stream"] == "downstream"
    assert toxic["toxicity"] == 1
    assert toxic["attributes"] == {"latency": 0, "jitter": 0}


@pytest.mark.parametrize(
    ("toxic_type", "attributes"),
    [
        ("latency", {"latency": 10, "jitter": 2}),
        ("bandwidth", {"rate": 100}),
        ("slow_close", {"delay": 10}),
        ("timeout", {"timeout": 10}),
        ("reset_peer", {"timeout": 10}),
        ("slicer", {"average_size": 10, "size_variation": 2, "delay": 5}),
        ("limit_data", {"bytes": 10}),
    ],
)
def test_each_toxic_type_round_trips_its_attributes(
    api: httpx.Client,
    proxies: Proxies,
    echo_server: TcpServer,
    toxic_type: str,
    attributes: dict[str, int],
) -> None:
    """Real: each toxic type keeps its attributes, shown alike by every toxic route (toxics/*.go)."""
    name = proxies.create(echo_server.address)["name"]
    body = {"type": toxic_type, "stream": "upstream", "toxicity": 0.5, "attributes": attributes}
    created = api.post(f"/proxies/{name}/toxics", json=body)
    assert created.status_code == 200, created.text
    toxic = created.json()
    assert toxic["name"] == f"{toxic_type}_upstream"
    assert toxic["attributes"] == attributes
    assert toxic["toxicity"] == pytest.approx(0.5)
    assert api.get(f"/proxies/{name}/toxics/{toxic['name']}").json() == toxic
    assert api.get(f"/proxies/{name}/toxics").json() == [toxic]
    assert api.get(f"/proxies/{name}").json()["toxics"] == [toxic]


def test_negative_latency_is_accepted(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: attributes are int64 with no range check: a negative latency is kept (toxics/latency.go)."""
    name = proxies.create(echo_server.address)["name"]
    body = {"type": "latency", "attributes": {"latency": -5}}
    response = api.post(f"/proxies/{name}/toxics", json=body)
    assert response.status_code == 200
    assert response.json()["attributes"]["latency"] == -5


def test_unknown_toxic_type_is_400(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: an unregistered type is 400 "invalid toxic type" (ErrInvalidToxicType)."""
    name = proxies.create(echo_server.address)["name"]
    response = api.post(f"/proxies/{name}/toxics", json={"type": "gremlin"})
    assert response.status_code == 400
    assert error_of(response) == {"error": "invalid toxic type", "status": 400}


def test_invalid_stream_is_400(api: httpx.Client, proxies: Proxies, echo_server: TcpServer) -> None:
    """Real: a stream other than upstream/downstream is 400 (ErrInvalidStream)."""
    name = proxies.create(echo_server.address)["name"]
    response = api.post(f"/proxies/{name}/toxics", json={"type": "latency", "stream": "sideways"})
    assert response.status_code == 400
    assert error_of(response)["status"] == 400
    assert "stream" in str(error_of(response)["error"])


@pytest.mark.parametrize("body", [b"{oops", b'{"type": "latency", "attributes": {"latency": "x"}}'])
def test_unparseable_toxic_body_is_400(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer, body: bytes
) -> None:
    """Real: an undecodable toxic body is 400 "bad request body: ..." (toxic_collection.go AddToxicJson)."""
    name = proxies.create(echo_server.address)["name"]
    response = api.post(f"/proxies/{name}/toxics", content=body)
    assert response.status_code == 400
    assert str(error_of(response)["error"]).startswith("bad request body: ")


def test_duplicate_toxic_is_409(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a toxic name in use on the proxy is 409 "toxic already exists" (ErrToxicAlreadyExists)."""
    name = proxies.create(echo_server.address)["name"]
    assert api.post(f"/proxies/{name}/toxics", json={"type": "latency"}).status_code == 200
    again = api.post(f"/proxies/{name}/toxics", json={"type": "latency"})
    assert again.status_code == 409
    assert error_of(again) == {"error": "toxic already exists", "status": 409}


def test_toxics_are_listed_upstream_first(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: toxics are listed by direction, upstream chain first (toxic_collection.go GetToxicArray)."""
    name = proxies.create(echo_server.address)["name"]
    api.post(f"/proxies/{name}/toxics", json={"type": "latency", "stream": "downstream"})
    api.post(f"/proxies/{name}/toxics", json={"type": "latency", "stream": "upstream"})
    names = [toxic["name"] for toxic in api.get(f"/proxies/{name}/toxics").json()]
    assert names == ["latency_upstream", "latency_downstream"]


def test_update_toxic_changes_attributes_and_toxicity_only(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: a toxic update changes attributes and toxicity, never the stream (toxic_collection.go UpdateToxicJson)."""
    name = proxies.create(echo_server.address)["name"]
    body = {"name": "slow", "type": "latency", "attributes": {"latency": 10, "jitter": 3}}
    api.post(f"/proxies/{name}/toxics", json=body)
    change = {"attributes": {"latency": 50}, "toxicity": 0.25, "stream": "upstream"}
    response = api.post(f"/proxies/{name}/toxics/slow", json=change)
    assert response.status_code == 200
    toxic = response.json()
    assert toxic["attributes"] == {"latency": 50, "jitter": 3}
    assert toxic["toxicity"] == pytest.approx(0.25)
    assert toxic["stream"] == "downstream"


def test_unknown_toxic_is_404(api: httpx.Client, proxies: Proxies, echo_server: TcpServer) -> None:
    """Real: an unknown toxic name is 404 "toxic not found" (ErrToxicNotFound)."""
    name = proxies.create(echo_server.address)["name"]
    for method in ("GET", "POST", "DELETE"):
        body = b"{}" if method == "POST" else None
        response = api.request(method, f"/proxies/{name}/toxics/nothing", content=body)
        assert response.status_code == 404
        assert error_of(response) == {"error": "toxic not found", "status": 404}


def test_delete_toxic_is_204_and_empty(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: DELETE of a toxic is 204 with no body (api.go ToxicDelete)."""
    name = proxies.create(echo_server.address)["name"]
    api.post(f"/proxies/{name}/toxics", json={"type": "timeout"})
    response = api.delete(f"/proxies/{name}/toxics/timeout_downstream")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/proxies/{name}/toxics").json() == []


def test_reset_enables_proxies_and_removes_toxics(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: POST /reset starts every proxy and removes every toxic, 204 (api.go ResetState)."""
    name = proxies.create(echo_server.address)["name"]
    api.post(f"/proxies/{name}/toxics", json={"type": "latency"})
    api.post(f"/proxies/{name}", json={"enabled": False})
    response = api.post("/reset")
    assert response.status_code == 204
    assert response.content == b""
    proxy = api.get(f"/proxies/{name}").json()
    assert proxy["enabled"] is True
    assert proxy["toxics"] == []


def test_populate_creates_and_keeps_unchanged_proxies(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer
) -> None:
    """Real: /populate creates proxies, keeping one whose listen and upstream are unchanged (proxy_collection.go AddOrReplace)."""
    first, second = proxies.name(), proxies.name()
    body = [
        {"name": first, "listen": "127.0.0.1:0", "upstream": echo_server.address},
        {
            "name": second,
            "listen": "127.0.0.1:0",
            "upstream": echo_server.address,
            "enabled": False,
        },
    ]
    response = api.post("/populate", json=body)
    assert response.status_code == 201
    created = {proxy["name"]: proxy for proxy in response.json()["proxies"]}
    assert set(created) == {first, second}
    assert created[first]["enabled"] is True
    assert created[second]["enabled"] is False
    again = [{"name": first, "listen": created[first]["listen"], "upstream": echo_server.address}]
    kept = api.post("/populate", json=again)
    assert kept.status_code == 201
    assert kept.json()["proxies"][0]["listen"] == created[first]["listen"]


def test_populate_with_a_nameless_proxy_is_400(api: httpx.Client) -> None:
    """Real: /populate checks every entry first: "missing required field: name at proxy N" (PopulateJson)."""
    response = api.post("/populate", json=[{"upstream": "127.0.0.1:1"}])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "missing required field: name at proxy 1"
    assert body["status"] == 400


def test_server_keeps_serving_after_bad_requests(api: httpx.Client, toxiproxy_url: str) -> None:
    """Real: Go's net/http answers a malformed request 400 and keeps serving."""
    host, port = split_listen(toxiproxy_url.removeprefix("http://"))
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    assert api.post("/proxies", content=b"\x00\xff").status_code == 400
    assert api.post("/proxies/x/toxics", content=b"{").status_code in (400, 404)
    assert api.get("/version").status_code == 200


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "invalid character 'n' looking for beginning of object key string"),
        (b"{,}", "invalid character ',' looking for beginning of object key string"),
        (b'{"name" "x"}', "invalid character '\"' after object key"),
        (b'{"name": "x" "y"}', "invalid character '\"' after object key:value pair"),
        (b'{"name": [1 2]}', "invalid character '2' after array element"),
        (b'{"name": tru}', "invalid character '}' in literal true (expecting 'e')"),
        (b'{"name": -}', "invalid character '}' in numeric literal"),
        (b'{"name": "\\q"}', "invalid character 'q' in string escape code"),
        (b"nonsense", "invalid character 'o' in literal null (expecting 'u')"),
        (b"=", "invalid character '=' looking for beginning of value"),
        (b'{"name": "x"', "unexpected EOF"),
        (b"", "EOF"),
    ],
)
def test_syntax_errors_are_go_decoder_texts(api: httpx.Client, body: bytes, detail: str) -> None:
    """Real: encoding/json's Decoder names the first bad byte and what its scanner looked for
    (scanner.go), behind "bad request body: " (api.go joinError)."""
    response = api.post("/proxies", content=body)
    assert response.status_code == 400
    assert error_of(response) == {"error": f"bad request body: {detail}", "status": 400}


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/proxies", b'{"name": 5}', "number into Go struct field Proxy.name of type string"),
        ("/proxies", b'{"name": "x", "enabled": "yes"}',
         "string into Go struct field Proxy.enabled of type bool"),
        ("/populate", b'[{"name": "x", "listen": 5}]', "number into Go struct field .listen of type string"),
        ("{toxics}", b'{"type": "latency", "attributes": {"latency": "x"}}',
         "string into Go struct field LatencyToxic.attributes.latency of type int64"),
        ("{toxics}", b'{"type": "latency", "attributes": {"latency": 1.5}}',
         "number 1.5 into Go struct field LatencyToxic.attributes.latency of type int64"),
        ("{toxics}", b'{"type": "timeout", "attributes": {"timeout": true}}',
         "bool into Go struct field TimeoutToxic.attributes.timeout of type int64"),
        ("{toxics}", b'{"type": "reset_peer", "attributes": {"timeout": "1"}}',
         "string into Go struct field ResetToxic.attributes.timeout of type int64"),
        ("{toxics}", b'{"type": "latency", "toxicity": "x"}',
         "string into Go struct field ToxicWrapper.toxicity of type float32"),
        ("{toxics}", b'{"type": "latency", "attributes": "x"}',
         "string into Go struct field ToxicWrapper.attributes of type toxics.NoopToxic"),
        ("{toxic}", b'{"toxicity": "x"}', "string into Go struct field .toxicity of type float32"),
        ("{toxic}", b'{"attributes": {"jitter": "x"}}',
         "string into Go struct field LatencyToxic.attributes.jitter of type int64"),
        ("{toxic}", b'{"attributes": 7}',
         "number into Go struct field .attributes of type toxics.LatencyToxic"),
    ],
)  # fmt: skip
def test_type_errors_name_the_go_struct_field(
    api: httpx.Client, proxies: Proxies, echo_server: TcpServer, path: str, body: bytes,
    detail: str,
) -> None:  # fmt: skip
    """Real: encoding/json's UnmarshalTypeError names the innermost Go struct and the field path:
    Proxy, the anonymous structs of populate and toxic update (no name), the toxic's own type."""
    name = proxies.create(echo_server.address)["name"]
    assert (
        api.post(f"/proxies/{name}/toxics", json={"type": "latency", "name": "lag"}).status_code
        == 200
    )
    target = {"{toxics}": f"/proxies/{name}/toxics", "{toxic}": f"/proxies/{name}/toxics/lag"}
    response = api.post(target.get(path, path), content=body)
    assert response.status_code == 400
    assert error_of(response)["error"] == f"bad request body: json: cannot unmarshal {detail}"
