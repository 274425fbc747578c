"""The local server's API Gateway emulation: route matching, payload 2.0 events, responses. No AWS.

The HTTP tests run the real server on a loopback port with stand-in handlers (a module put in sys.modules).
"""

import base64
import http.client
import json
import sys
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chat_memory_dev.local.server import (
    MAX_BODY_BYTES,
    EventOptions,
    HttpRequest,
    LocalApi,
    LocalServer,
    MethodNotAllowedError,
    RouteNotFoundError,
    RouteTable,
    build_event,
    query_parameters,
    split_target,
    translate_result,
)
from chat_memory_dev.template import HttpRoute, http_routes, load_template

FAKE_MODULE = "chat_memory_fake_handlers"


def _route(method: str, path: str, handler: str = f"{FAKE_MODULE}.echo") -> HttpRoute:
    return HttpRoute(function=f"{method.title()}Function", handler=handler, method=method, path=path)


API_ROUTES = (
    _route("GET", "/healthz"),
    _route("GET", "/api/v2/sessions"),
    _route("POST", "/api/v2/sessions"),
    _route("GET", "/api/v2/sessions/{sessionId}"),
    _route("PATCH", "/api/v2/sessions/{sessionId}"),
    _route("GET", "/api/v2/sessions/{sessionId}/memory"),
    _route("POST", "/api/v2/sessions/{sessionId}/memory"),
    _route("DELETE", "/api/v2/sessions/{sessionId}/memory"),
)


def _event(method: str, target: str, *, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Any:
    table = RouteTable(API_ROUTES)
    compiled, params = table.match(method, split_target(target)[0])
    request = HttpRequest(method=method, target=target, headers=headers or [("Host", "127.0.0.1:8000")], body=body)
    return build_event(request, compiled.route_key, params)


# ------------------------------------------------------------------------------------------------- routing


def test_template_routes_are_the_documented_api() -> None:
    keys = {f"{r.method} {r.path}" for r in http_routes()}
    assert keys >= {f"{r.method} {r.path}" for r in API_ROUTES}
    RouteTable(http_routes())  # compiles: no duplicate or malformed routes


def test_template_routes_carry_their_functions_timeout() -> None:
    template = load_template()
    default = template["Globals"]["Function"]["Timeout"]
    for route in http_routes():
        props = template["Resources"][route.function]["Properties"]
        assert route.timeout_s == props.get("Timeout", default), route


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/healthz", "GET /healthz", {}),
        ("GET", "/api/v2/sessions", "GET /api/v2/sessions", {}),
        ("POST", "/api/v2/sessions", "POST /api/v2/sessions", {}),
        ("PATCH", "/api/v2/sessions/abc", "PATCH /api/v2/sessions/{sessionId}", {"sessionId": "abc"}),
        ("GET", "/api/v2/sessions/a b/memory", "GET /api/v2/sessions/{sessionId}/memory", {"sessionId": "a b"}),
        ("DELETE", "/api/v2/sessions/x+y/memory", "DELETE /api/v2/sessions/{sessionId}/memory", {"sessionId": "x+y"}),
        ("post", "/api/v2/sessions/s/memory", "POST /api/v2/sessions/{sessionId}/memory", {"sessionId": "s"}),
    ],
)
def test_routes_match_like_api_gateway(method: str, path: str, route_key: str, params: dict[str, str]) -> None:
    compiled, found = RouteTable(API_ROUTES).match(method, path)
    assert compiled.route_key == route_key
    assert found == params


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nope",
        "/api/v2/sessions/a/b/memory",  # an unencoded '/' makes another segment
        "/api/v2/sessions//memory",  # a parameter is never empty
        "/api/v2/sessions/abc/memory/extra",
        "/healthz/",
    ],
)
def test_unknown_paths_are_not_found(path: str) -> None:
    with pytest.raises(RouteNotFoundError):
        RouteTable(API_ROUTES).match("GET", path)


def test_known_path_with_another_method_is_not_allowed() -> None:
    with pytest.raises(MethodNotAllowedError) as info:
        RouteTable(API_ROUTES).match("PUT", "/api/v2/sessions/abc/memory")
    assert info.value.allowed == ("DELETE", "GET", "POST")


def test_greedy_parameters_any_method_and_specificity() -> None:
    table = RouteTable(
        [
            _route("ANY", "/files/{proxy+}"),
            _route("GET", "/files/{name}"),
            _route("GET", "/files/readme"),
        ]
    )
    assert table.match("GET", "/files/readme")[0].route_key == "GET /files/readme"
    assert table.match("GET", "/files/other") == (table.routes[1], {"name": "other"})
    compiled, params = table.match("GET", "/files/a/b%2Fc/d")
    assert compiled.route_key == "ANY /files/{proxy+}"
    assert params == {"proxy": "a/b%2Fc/d"}
    assert table.match("DELETE", "/files/x")[0].route_key == "ANY /files/{proxy+}"
    with pytest.raises(RouteNotFoundError):
        table.match("GET", "/files/")


def test_malformed_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="greedy"):
        RouteTable([_route("GET", "/a/{rest+}/b")])
    with pytest.raises(ValueError, match="duplicate"):
        RouteTable([_route("GET", "/a"), _route("GET", "/a")])


# -------------------------------------------------------------------------------------------------- events


def test_event_has_the_payload_2_shape() -> None:
    options = EventOptions(request_id=str(uuid.uuid4()))
    request = HttpRequest(
        method="POST",
        target="/api/v2/sessions/s%201/memory?lastn=2",
        headers=[("Host", "localhost:8000"), ("User-Agent", "python-httpx/0.28.1"), ("Content-Type", "text/plain")],
        body=b"hello",
        source_ip="127.0.0.2",
    )
    event = build_event(request, "POST /api/v2/sessions/{sessionId}/memory", {"sessionId": "s 1"}, options)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /api/v2/sessions/{sessionId}/memory"
    assert event["rawPath"] == "/api/v2/sessions/s 1/memory"
    assert event["rawQueryString"] == "lastn=2"
    assert event["pathParameters"] == {"sessionId": "s 1"}
    assert event["body"] == "hello"
    assert event["isBase64Encoded"] is False
    assert "cookies" not in event
    ctx = event["requestContext"]
    assert ctx["routeKey"] == event["routeKey"]
    assert ctx["stage"] == "$default"
    assert ctx["requestId"] == options.request_id
    assert ctx["domainName"] == "localhost"
    assert ctx["http"] == {
        "method": "POST",
        "path": "/api/v2/sessions/s 1/memory",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.2",
        "userAgent": "python-httpx/0.28.1",
    }
    assert isinstance(ctx["timeEpoch"], int)
    assert ctx["time"].endswith(" +0000")
    assert event["headers"]["content-length"] == "5"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.2"
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("/api/v2/sessions/a%2Bb/memory", "a+b"),
        ("/api/v2/sessions/with+space/memory", "with+space"),
        ("/api/v2/sessions/100%25/memory", "100%"),
        ("/api/v2/sessions/%2541/memory", "%41"),
        ("/api/v2/sessions/%F0%9F%A6%9C/memory", "🦜"),
    ],
)
def test_path_is_percent_decoded_like_http_apis_do(path: str, segment: str) -> None:
    event = _event("GET", path)
    decoded = f"/api/v2/sessions/{segment}/memory"
    assert event["rawPath"] == decoded
    assert event["requestContext"]["http"]["path"] == decoded
    assert event["pathParameters"] == {"sessionId": segment}


def test_an_encoded_slash_splits_the_path_and_matches_no_one_segment_route() -> None:
    with pytest.raises(RouteNotFoundError):
        RouteTable(API_ROUTES).match("GET", split_target("/api/v2/sessions/a%2Fb/memory")[0])


def test_query_strings_decoded_repeated_keys_joined_empty_values_kept() -> None:
    event = _event("GET", "/api/v2/sessions?limit=&cursor=&tag=a&tag=b%2Cc&q=x+y%26z&flag")
    assert event["rawQueryString"] == "limit=&cursor=&tag=a&tag=b%2Cc&q=x+y%26z&flag"
    assert event["queryStringParameters"] == {"limit": "", "cursor": "", "tag": "a,b,c", "q": "x y&z", "flag": ""}


def test_no_query_string_means_no_parameters() -> None:
    event = _event("GET", "/api/v2/sessions")
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_query_parameters_and_targets() -> None:
    assert query_parameters("") == {}
    assert query_parameters("a=1&a=2&a=") == {"a": "1,2,"}
    assert split_target("/p?x=1#frag") == ("/p", "x=1")
    assert split_target("http://host:1/p/q?x=%20") == ("/p/q", "x=%20")


def test_headers_lower_cased_repeats_comma_joined_cookies_split_out() -> None:
    event = _event(
        "GET",
        "/healthz",
        headers=[
            ("Host", "example.test"),
            ("X-Custom", "one"),
            ("x-custom", "two"),
            ("Accept", "*/*"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
        ],
    )
    assert event["headers"]["x-custom"] == "one,two"
    assert event["headers"]["accept"] == "*/*"
    assert event["headers"]["host"] == "example.test"
    assert "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2", "c=3"]


def test_utf8_bodies_are_text_others_base64() -> None:
    text = "héllo 🦜".encode()
    assert _event("POST", "/api/v2/sessions", body=text)["body"] == "héllo 🦜"
    binary = b"\xff\xfe\x00binary"
    event = _event("POST", "/api/v2/sessions", body=binary)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == binary


# ------------------------------------------------------------------------------------------------ responses


def test_results_translate_to_http_responses() -> None:
    response = translate_result(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-One": "1"},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "cookies": ["k=v; Path=/"],
            "body": '{"ok":true}',
            "isBase64Encoded": False,
        }
    )
    assert response.status == 201
    assert ("X-One", "1") in response.headers
    assert [v for k, v in response.headers if k == "X-Many"] == ["a", "b"]
    assert ("set-cookie", "k=v; Path=/") in response.headers
    assert response.body == b'{"ok":true}'

    binary = translate_result(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert binary.body == b"\x00\x01"
    assert translate_result({"statusCode": 204}).body == b""
    inferred = translate_result({"hello": "world"})  # not a formatted response: API Gateway infers one
    assert (inferred.status, json.loads(inferred.body)) == (200, {"hello": "world"})
    with pytest.raises(ValueError, match="statusCode"):
        translate_result({"statusCode": "teapot"})


# ---------------------------------------------------------------------------------------- over HTTP (loopback)


def _echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = {"event": event, "function": context.function_name, "remaining": context.get_remaining_time_in_millis()}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "cookies": ["session=abc", "theme=dark"],
        "body": json.dumps(payload),
    }


def _boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("handler failed on purpose")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    module = types.ModuleType(FAKE_MODULE)
    module.echo = _echo  # type: ignore[attr-defined]
    module.boom = _boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    routes = [*API_ROUTES, _route("GET", "/boom", handler=f"{FAKE_MODULE}.boom")]
    with LocalServer("127.0.0.1", 0, api=LocalApi(routes), access_log=False) as srv:
        srv.start()
        yield srv


def _call(
    srv: LocalServer, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def test_server_passes_the_raw_request_to_the_handler(server: LocalServer) -> None:
    status, headers, body = _call(
        server,
        "POST",
        "/api/v2/sessions/a%3Bb%2Bc+d%25/memory?lastn=&memoryType=perpetual",
        body=b'{"messages": []}',
        headers={"Content-Type": "application/json", "X-Repeat": "1", "Cookie": "a=1; b=2"},
    )
    assert status == 200
    assert headers.get_all("Set-Cookie") == ["session=abc", "theme=dark"]
    assert headers["apigw-requestid"]
    payload = json.loads(body)
    event = payload["event"]
    assert payload["function"] == "PostFunction"
    assert 0 < payload["remaining"] <= 30_000
    assert event["routeKey"] == "POST /api/v2/sessions/{sessionId}/memory"
    assert event["rawPath"] == "/api/v2/sessions/a;b+c+d%/memory"
    assert event["pathParameters"] == {"sessionId": "a;b+c+d%"}
    assert event["queryStringParameters"] == {"lastn": "", "memoryType": "perpetual"}
    assert event["body"] == '{"messages": []}'
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-repeat"] == "1"
    assert event["headers"]["host"] == f"127.0.0.1:{server.port}"
    assert event["requestContext"]["requestId"] == headers["apigw-requestid"]


def test_server_base64_encodes_binary_bodies(server: LocalServer) -> None:
    status, _, body = _call(server, "POST", "/api/v2/sessions", body=b"\x80\x81\xff")
    assert status == 200
    event = json.loads(body)["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x80\x81\xff"


def test_server_not_found_and_method_not_allowed(server: LocalServer) -> None:
    status, headers, body = _call(server, "GET", "/api/v2/unknown")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert headers["content-type"] == "application/json"
    status, headers, body = _call(server, "PUT", "/api/v2/sessions/abc")
    assert status == 405
    assert "message" in json.loads(body)
    assert headers["allow"] == "GET, PATCH"


def test_server_turns_handler_exceptions_into_500(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, body = _call(server, "GET", "/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal server error"})
    assert "handler failed on purpose" in capsys.readouterr().err


def test_server_refuses_bodies_over_10_mb(server: LocalServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.putrequest("POST", "/api/v2/sessions")
        conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        conn.endheaders()  # the body is never sent: the server answers from the headers
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"message": "Request Entity Too Large"}
    finally:
        conn.close()
    status, _, _ = _call(server, "POST", "/api/v2/sessions", body=b"x" * 1024)
    assert status == 200  # the server is still serving


def test_server_reads_chunked_bodies(server: LocalServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("POST", "/api/v2/sessions", body=iter([b"hel", b"lo"]), encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["event"]["body"] == "hello"
    finally:
        conn.close()


def test_server_keeps_connections_alive(server: LocalServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()
