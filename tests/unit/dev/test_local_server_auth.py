"""The local server's Lambda authorizer emulation (API Gateway HTTP API, payload 2.0, simple responses). No AWS.

Stand-in authorizer and route handlers live in a module put in sys.modules; a fake clock drives the cache.
"""

import http.client
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from chat_memory_dev.local.server import (
    AuthorizerCache,
    HttpRequest,
    HttpResponse,
    LocalApi,
    LocalServer,
    build_authorizer_event,
    build_event,
)
from chat_memory_dev.template import (
    HttpRoute,
    LambdaAuthorizer,
    http_authorizers,
    http_routes,
    load_template,
)

FAKE_MODULE = "chat_memory_fake_auth"
AUTHORIZER_NAME = "KeyAuthorizer"
TTL_S = 60
GOOD_KEY = "Bearer good"
OTHER_GOOD_KEY = "Api-Key other"


@dataclass
class Calls:
    authorizer: list[dict[str, Any]] = field(default_factory=list)
    handler: list[dict[str, Any]] = field(default_factory=list)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _authorize(calls: Calls, event: dict[str, Any], context: Any) -> Any:
    calls.authorizer.append(event)
    header = event["headers"].get("authorization")
    if header == "Bearer boom":
        raise RuntimeError("authorizer failed on purpose")
    if header == "Bearer garbage":
        return {"allow": True}  # not a simple response
    if header == "Bearer no":
        return {"isAuthorized": False}
    tenant = {GOOD_KEY: "tenant-a", OTHER_GOOD_KEY: "tenant-b"}.get(header)
    return {"isAuthorized": True, "context": {"tenant": tenant} if tenant else {"denied": "unknown key"}}


def _echo(calls: Calls, event: dict[str, Any], context: Any) -> dict[str, Any]:
    calls.handler.append(event)
    return {"statusCode": 200, "body": json.dumps({"authorizer": event["requestContext"].get("authorizer")})}


ROUTES = (
    HttpRoute("HealthFunction", f"{FAKE_MODULE}.echo", "GET", "/healthz"),  # public
    HttpRoute("ReadFunction", f"{FAKE_MODULE}.echo", "GET", "/api/v2/sessions/{sessionId}", AUTHORIZER_NAME),
    HttpRoute("WriteFunction", f"{FAKE_MODULE}.echo", "POST", "/api/v2/sessions", AUTHORIZER_NAME),
)
AUTHORIZER = LambdaAuthorizer(
    name=AUTHORIZER_NAME,
    function="KeyAuthorizerFunction",
    handler=f"{FAKE_MODULE}.authorize",
    payload_format_version="2.0",
    simple_responses=True,
    identity_headers=("Authorization",),
    identity_query_strings=(),
    ttl_seconds=TTL_S,
    timeout_s=5,
)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    log = Calls()
    module = types.ModuleType(FAKE_MODULE)
    module.authorize = lambda event, context: _authorize(log, event, context)  # type: ignore[attr-defined]
    module.echo = lambda event, context: _echo(log, event, context)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    return log


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _api(clock: FakeClock, authorizer: LambdaAuthorizer = AUTHORIZER) -> LocalApi:
    return LocalApi(ROUTES, {authorizer.name: authorizer}, clock=clock)


def _request(api: LocalApi, method: str, target: str, authorization: str | None = None) -> HttpResponse:
    headers = [("Host", "127.0.0.1:8000"), ("User-Agent", "test")]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    return api.handle(HttpRequest(method=method, target=target, headers=headers))


def _json(response: HttpResponse) -> Any:
    return json.loads(response.body)


# -------------------------------------------------------------------------------------------- the template


def test_template_authorizer_is_read_with_the_parameter_default_as_ttl() -> None:
    template = load_template()
    default_ttl = template["Parameters"]["AuthorizerCacheSeconds"]["Default"]
    [authorizer] = http_authorizers().values()
    assert authorizer == LambdaAuthorizer(
        name="ApiKeyAuthorizer",
        function="AuthorizerFunction",
        handler="chat_memory.handlers.authorizer.lambda_handler",
        payload_format_version="2.0",
        simple_responses=True,
        identity_headers=("Authorization",),
        identity_query_strings=(),
        ttl_seconds=default_ttl,
        timeout_s=template["Resources"]["AuthorizerFunction"]["Properties"]["Timeout"],
    )
    assert authorizer.identity_source == ("$request.header.Authorization",)


def test_template_routes_carry_their_authorizer_and_only_health_not_served_and_the_console_are_public() -> None:
    public = {(r.method, r.path, r.function) for r in http_routes() if r.authorizer is None}
    assert public == {
        ("GET", "/healthz", "HealthFunction"),
        ("ANY", "$default", "NotServedFunction"),
        ("GET", "/console", "ConsoleFunction"),  # the static page: its API calls carry the key
        ("GET", "/console/{asset}", "ConsoleFunction"),
    }
    assert {r.authorizer for r in http_routes()} == {None, "ApiKeyAuthorizer"}
    api = LocalApi()  # the template's routes come with the template's authorizers
    assert set(api.authorizers) == {"ApiKeyAuthorizer"}


_MINI_TEMPLATE = """
Parameters:
  Ttl: {{Type: Number, Default: 30}}
Globals:
  Function: {{Handler: pkg.default.handler, Timeout: 7}}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Keys
        Authorizers:
          Keys:
            FunctionArn: !GetAtt AuthFn.Arn
            AuthorizerPayloadFormatVersion: "{version}"
            EnableSimpleResponses: true
            Identity: {{Headers: [X-Key], QueryStrings: [key], ReauthorizeEvery: {ttl}}}
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {{issuer: "https://issuer", audience: [a]}}
  AuthFn:
    Type: AWS::Serverless::Function
    Properties: {{Handler: pkg.auth.handler}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Guarded: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Path: /a, Method: get}}}}
        Public: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Path: /b, Method: get, Auth: {{Authorizer: NONE}}}}}}
        {extra}
"""


def _mini(tmp_path: Path, *, version: str = "2.0", ttl: str = "!Ref Ttl", extra: str = "") -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(_MINI_TEMPLATE.format(version=version, ttl=ttl, extra=extra), encoding="utf-8")
    return path


def test_template_parsing_default_opt_out_literal_and_parameter_ttls(tmp_path: Path) -> None:
    path = _mini(tmp_path)
    routes = {r.path: r.authorizer for r in http_routes(path)}
    assert routes == {"/a": "Keys", "/b": None}
    keys = http_authorizers(path)["Keys"]
    assert (keys.function, keys.handler, keys.ttl_seconds, keys.timeout_s) == ("AuthFn", "pkg.auth.handler", 30, 7)
    assert keys.identity_source == ("$request.header.X-Key", "$request.querystring.key")
    assert set(http_authorizers(path)) == {"Keys"}  # the JWT authorizer is declared but used by no route
    (tmp_path / "zero").mkdir()
    assert http_authorizers(_mini(tmp_path / "zero", ttl="0"))["Keys"].ttl_seconds == 0


def _event_with_authorizer(name: str) -> str:
    props = f"{{ApiId: !Ref Api, Path: /c, Method: get, Auth: {{Authorizer: {name}}}}}"
    return f"Other: {{Type: HttpApi, Properties: {props}}}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": "1.0"}, "payload format 2.0"),
        ({"extra": _event_with_authorizer("Jwt")}, "JWT"),
        ({"extra": _event_with_authorizer("Nope")}, "Nope"),
        ({"ttl": "!GetAtt AuthFn.Arn"}, "ReauthorizeEvery"),
    ],
)
def test_template_authorizers_the_local_server_cannot_emulate_are_refused(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        http_authorizers(_mini(tmp_path, **kwargs))


def test_routes_naming_an_unknown_authorizer_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown authorizers"):
        LocalApi(ROUTES)  # no authorizers given


# ---------------------------------------------------------------------------------- API Gateway's behaviour


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_missing_or_empty_identity_source_is_401_without_calling_anything(
    calls: Calls, clock: FakeClock, authorization: str | None
) -> None:
    response = _request(_api(clock), "GET", "/api/v2/sessions/s1", authorization)
    assert (response.status, _json(response)) == (401, {"message": "Unauthorized"})
    assert ("content-type", "application/json") in response.headers
    assert any(name == "apigw-requestid" for name, _ in response.headers)
    assert calls.authorizer == []
    assert calls.handler == []


def test_is_authorized_false_is_403_and_the_route_is_not_called(calls: Calls, clock: FakeClock) -> None:
    response = _request(_api(clock), "GET", "/api/v2/sessions/s1", "Bearer no")
    assert (response.status, _json(response)) == (403, {"message": "Forbidden"})
    assert len(calls.authorizer) == 1
    assert calls.handler == []


@pytest.mark.parametrize(
    ("authorization", "context"),
    [(GOOD_KEY, {"tenant": "tenant-a"}), ("Bearer unknown", {"denied": "unknown key"})],
)
def test_the_authorizers_context_reaches_the_route(
    calls: Calls, clock: FakeClock, authorization: str, context: dict[str, str]
) -> None:
    response = _request(_api(clock), "GET", "/api/v2/sessions/s1", authorization)
    assert response.status == 200
    assert _json(response) == {"authorizer": {"lambda": context}}
    [event] = calls.handler
    assert event["requestContext"]["authorizer"] == {"lambda": context}


def test_the_authorizer_event_is_payload_2_0(calls: Calls, clock: FakeClock) -> None:
    response = _request(_api(clock), "GET", "/api/v2/sessions/s%201?lastn=5&a=1&a=2", GOOD_KEY)
    assert response.status == 200
    [event] = calls.authorizer
    [route_event] = calls.handler
    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert event["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/api/v2/sessions/s 1"
    assert event["identitySource"] == [GOOD_KEY]
    assert event["routeKey"] == "GET /api/v2/sessions/{sessionId}"
    assert event["rawPath"] == "/api/v2/sessions/s 1"
    assert event["rawQueryString"] == "lastn=5&a=1&a=2"
    assert event["headers"]["authorization"] == GOOD_KEY
    assert event["queryStringParameters"] == {"lastn": "5", "a": "1,2"}
    assert event["pathParameters"] == {"sessionId": "s 1"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["requestId"] == route_event["requestContext"]["requestId"]
    assert "authorizer" not in event["requestContext"]
    assert "body" not in event


def test_build_authorizer_event_copies_and_never_carries_the_body() -> None:
    request = HttpRequest("POST", "/api/v2/sessions", [("Authorization", GOOD_KEY)], body=b'{"session_id": "s"}')
    route_event = build_event(request, "POST /api/v2/sessions", {})
    event = build_authorizer_event(route_event, [GOOD_KEY])
    assert "body" not in event and "isBase64Encoded" not in event and "pathParameters" not in event
    event["requestContext"]["http"]["method"] = "changed"
    event["headers"]["authorization"] = "changed"
    assert route_event["requestContext"]["http"]["method"] == "POST"  # the route's event is untouched
    assert route_event["headers"]["authorization"] == GOOD_KEY


def test_results_are_cached_per_identity_value_for_the_ttl(calls: Calls, clock: FakeClock) -> None:
    api = _api(clock)
    for _ in range(3):
        assert _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY).status == 200
    assert _request(api, "POST", "/api/v2/sessions", GOOD_KEY).status == 200  # the cache is per identity, not route
    assert len(calls.authorizer) == 1
    assert [e["requestContext"]["authorizer"] for e in calls.handler] == [{"lambda": {"tenant": "tenant-a"}}] * 4

    response = _request(api, "GET", "/api/v2/sessions/s1", OTHER_GOOD_KEY)  # another key: asked again
    assert _json(response) == {"authorizer": {"lambda": {"tenant": "tenant-b"}}}
    assert len(calls.authorizer) == 2

    clock.now += TTL_S - 0.5
    _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY)
    assert len(calls.authorizer) == 2  # still within the TTL
    clock.now += 1
    _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY)
    assert len(calls.authorizer) == 3  # expired: asked again


def test_denials_are_cached_too(calls: Calls, clock: FakeClock) -> None:
    api = _api(clock)
    assert _request(api, "GET", "/api/v2/sessions/s1", "Bearer no").status == 403
    assert _request(api, "GET", "/api/v2/sessions/s1", "Bearer no").status == 403
    assert len(calls.authorizer) == 1


def test_a_zero_ttl_asks_the_authorizer_every_time(calls: Calls, clock: FakeClock) -> None:
    api = _api(clock, replace(AUTHORIZER, ttl_seconds=0))
    for _ in range(3):
        assert _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY).status == 200
    assert len(calls.authorizer) == 3


def test_a_cached_context_cannot_be_changed_by_a_handler(calls: Calls, clock: FakeClock) -> None:
    api = _api(clock)
    _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY)
    calls.handler[0]["requestContext"]["authorizer"]["lambda"]["tenant"] = "mutated"
    _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY)
    assert calls.handler[1]["requestContext"]["authorizer"] == {"lambda": {"tenant": "tenant-a"}}


def test_the_public_route_never_calls_the_authorizer(calls: Calls, clock: FakeClock) -> None:
    api = _api(clock)
    for authorization in (None, GOOD_KEY, "Bearer no"):
        response = _request(api, "GET", "/healthz", authorization)
        assert response.status == 200
        assert _json(response) == {"authorizer": None}
    assert calls.authorizer == []
    assert len(calls.handler) == 3


@pytest.mark.parametrize("authorization", ["Bearer boom", "Bearer garbage"])
def test_a_failing_or_malformed_authorizer_is_500_and_not_cached(
    calls: Calls, clock: FakeClock, authorization: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api = _api(clock)
    for _ in range(2):
        response = _request(api, "GET", "/api/v2/sessions/s1", authorization)
        assert response.status == 500
    assert len(calls.authorizer) == 2
    assert calls.handler == []
    assert f"authorizer {AUTHORIZER_NAME}" in capsys.readouterr().err


def test_query_string_identity_sources(calls: Calls, clock: FakeClock) -> None:
    api = _api(clock, replace(AUTHORIZER, identity_query_strings=("key",)))
    assert _request(api, "GET", "/api/v2/sessions/s1", GOOD_KEY).status == 401  # the query string is missing
    assert _request(api, "GET", "/api/v2/sessions/s1?key=", GOOD_KEY).status == 401  # ... or empty
    assert _request(api, "GET", "/api/v2/sessions/s1?key=k", GOOD_KEY).status == 200
    assert calls.authorizer[0]["identitySource"] == [GOOD_KEY, "k"]


def test_authorizer_cache_bounds_its_size() -> None:
    clock = FakeClock()
    cache = AuthorizerCache(clock)
    for i in range(AuthorizerCache.MAX_ENTRIES + 5):
        cache.put("a", [str(i)], 60, True, {})
    assert cache.get("a", [str(AuthorizerCache.MAX_ENTRIES + 4)]) == (True, {})
    assert len(cache._entries) <= AuthorizerCache.MAX_ENTRIES


# -------------------------------------------------------------------------------------------- over HTTP


@pytest.fixture
def server(calls: Calls, clock: FakeClock) -> Iterator[LocalServer]:
    with LocalServer("127.0.0.1", 0, api=_api(clock), access_log=False) as srv:
        srv.start()
        yield srv


def _call(srv: LocalServer, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request(method, target, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_over_http_401_403_and_an_authorized_route(server: LocalServer, calls: Calls) -> None:
    assert _call(server, "GET", "/api/v2/sessions/s1", {}) == (401, b'{"message":"Unauthorized"}')
    assert _call(server, "GET", "/api/v2/sessions/s1", {"Authorization": "Bearer no"}) == (
        403,
        b'{"message":"Forbidden"}',
    )
    status, body = _call(server, "GET", "/api/v2/sessions/s1", {"authorization": GOOD_KEY})
    assert (status, json.loads(body)) == (200, {"authorizer": {"lambda": {"tenant": "tenant-a"}}})
    assert _call(server, "GET", "/healthz", {})[0] == 200
    assert len(calls.authorizer) == 2
