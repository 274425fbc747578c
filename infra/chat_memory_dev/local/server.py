"""Serve the API locally without Docker: HTTP -> API Gateway HTTP API (payload 2.0) event -> lambda_handler.

Routes and handlers come from template.yaml (`http_routes()`). Each request is matched like API Gateway
matches routes, turned into the event API Gateway would send, and passed to the route's `lambda_handler`
in this process; the handler's result is turned back into the HTTP response.

Fidelity notes:
- Like HTTP APIs on AWS (REST APIs, ALB and function URLs differ), the path is percent-decoded before
  routing and in `rawPath`, `requestContext.http.path` and `pathParameters`: `/sessions/a%20b/memory` gives
  `{"sessionId": "a b"}`, and `/sessions/a%2Fb/memory` becomes `/sessions/a/b/memory`, which matches no
  one-segment route. `+` is left as it is (it is literal in a path); the handlers read it as a space.
- Like Lambda, which gives each concurrent request its own execution environment, `serve(workers=N)` (`chat-memory
  serve --workers N`) runs the handlers in N worker processes (chat_memory_dev.local.workers): concurrent requests run
  at once and race in DynamoDB as on AWS. Each invocation gets its function's Timeout from the template (its
  context's remaining time, hence its deadline, as on AWS). A worker that crashes or overruns the function's
  timeout answers 500 (503 for API Gateway's 30 s integration timeout) and is replaced. With `workers=0` the
  handlers run in this process one at a time (HTTP parsing and responses stay concurrent): Powertools' resolvers
  keep the current event on the `BaseRouter` class, shared by every resolver in a process, so two in-process
  invocations at once could read each other's events.
- `GET /docs` shows Swagger UI and `GET /openapi.json` the API's OpenAPI document (infra/openapi.json): local
  additions, not routes of the template.
- Unknown paths give 404 `{"message": "Not Found"}` as API Gateway does; a known path with another method gives
  405 (API Gateway answers 404 there too) so mistakes are easier to spot locally.
- `serve()` also drives the template's stream consumers (the summariser and the purger) from the table's stream,
  invoked like the routes' handlers, in the workers or under the same lock (chat_memory_dev.local.stream);
  `chat-memory serve --no-stream-consumers` leaves them out.
- Lambda authorizers (the HttpApi's `Auth`, `http_authorizers()`) run as on API Gateway: a route guarded by one
  answers 401 `{"message":"Unauthorized"}` without invoking it when an identity source (the Authorization
  header) is missing or empty; otherwise the authorizer's handler gets the payload 2.0 authorizer event (invoked
  like the routes' handlers), its simple response is cached (in the server process, as API Gateway caches it)
  per identity source value for `ReauthorizeEvery` seconds
  (the parameter's default), `isAuthorized: false` gives 403 `{"message":"Forbidden"}`, and its `context`
  reaches the route's handler as `requestContext.authorizer.lambda`. An authorizer that fails or answers
  something else than a simple response gives 500 (not cached). Only payload 2.0 simple responses are emulated.
- Lambda's 6 MB synchronous payloads: a request whose event (its JSON) is over 6,291,456 bytes answers 413
  `{"message":"Request Entity Too Large"}` without invoking the handler; a handler result whose JSON (as the Python
  runtime serializes it) is over 6,291,556 bytes (what Lambda's own error names) answers 500
  `{"message":"Internal Server Error"}`, HTTP APIs' answer when the integration fails, with a line on stderr saying
  why (sizes only). Bodies over API Gateway's own 10 MB are refused before they are read.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import math
import os
import re
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from chat_memory_dev.local.api_docs import DOCS_PATH, OPENAPI_JSON_PATH, docs_html, openapi_json
from chat_memory_dev.local.runtime import (
    ACCOUNT_ID,
    INTEGRATION_TIMEOUT_MS,
    REGION,
    InProcessInvoker,
    Invoker,
    quiet_warnings,
)
from chat_memory_dev.local.workers import DEFAULT_WORKERS, InvocationTimeoutError, WorkerPool
from chat_memory_dev.template import HttpRoute, LambdaAuthorizer, http_authorizers, http_routes

if TYPE_CHECKING:
    from chat_memory_dev.local.stream import StreamPoller
    from chat_memory_dev.localdb.dynamodb import LocalDynamoDB
    from chat_memory_dev.localdb.persistence import DataDir

DEFAULT_TABLE_NAME: Final = "chat-memory-local"
PAGE_TOKEN_KEY_ENV: Final = "PAGE_TOKEN_KEY"  # noqa: S105 - the variable chat_memory.settings reads, not a secret
PAGE_TOKEN_KEY_FILE: Final = "page-token-key"  # noqa: S105 - its file in the data folder
MAX_BODY_BYTES: Final = 10 * 1024 * 1024  # API Gateway's payload limit
LAMBDA_REQUEST_BYTES: Final = 6 * 1024 * 1024  # Lambda's synchronous invocation payload: the event's JSON
# ... and its response: "Response payload size exceeded maximum allowed payload size (6291556 bytes)", Lambda says.
LAMBDA_RESPONSE_BYTES: Final = LAMBDA_REQUEST_BYTES + 100
API_ID: Final = "local"

HANDLER_ENV_DEFAULTS: Final[Mapping[str, str]] = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    # Powertools v3 checks this in Metrics.flush_metrics (metrics/functions.py: is_metrics_disabled()):
    # no EMF blobs on stdout for every local request.
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "chat-memory",
}


def set_handler_env(table_name: str | None = None) -> str:
    """Environment the handlers expect, set before they are imported; values the user set are kept.

    An explicit `table_name` wins over $TABLE_NAME. Returns the table name in effect.
    """
    if table_name:
        os.environ["TABLE_NAME"] = table_name
    else:
        os.environ.setdefault("TABLE_NAME", DEFAULT_TABLE_NAME)
    for name, value in HANDLER_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # The stack's secret signs page tokens on AWS; here a key of this process (serve keeps one in its data folder).
    os.environ.setdefault(PAGE_TOKEN_KEY_ENV, secrets.token_urlsafe(32))
    return os.environ["TABLE_NAME"]


def keep_page_token_key(data: DataDir | None, given: bool) -> None:
    """Page tokens stay valid across restarts of a server on one data folder (unless $PAGE_TOKEN_KEY was given)."""
    if data is None or given:
        return
    saved = data.saved_secret(PAGE_TOKEN_KEY_FILE)
    if saved is None:
        data.save_secret(PAGE_TOKEN_KEY_FILE, os.environ[PAGE_TOKEN_KEY_ENV])
    else:
        os.environ[PAGE_TOKEN_KEY_ENV] = saved


# --------------------------------------------------------------------------------------------------- routing


class RouteNotFoundError(LookupError):
    """No route has this path."""


class MethodNotAllowedError(LookupError):
    """A route has this path, but not for this method."""

    def __init__(self, allowed: Sequence[str]) -> None:
        super().__init__(f"allowed methods: {', '.join(allowed)}")
        self.allowed = tuple(allowed)


_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")


@dataclass(frozen=True)
class _Segment:
    kind: int  # 0 literal, 1 {param}, 2 {param+} (greedy); lower is more specific
    value: str  # the literal, or the parameter name


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    segments: tuple[_Segment, ...]
    catch_all: bool = False  # the $default route

    @property
    def route_key(self) -> str:
        return "$default" if self.catch_all else f"{self.route.method} {self.route.path}"

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Path parameters (raw, as in the path) when `raw_path` fits this route's path, else None."""
        if self.catch_all:
            return {}
        parts = raw_path.split("/")[1:] if raw_path.startswith("/") else None
        if parts is None:
            return None
        params: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.kind == 2:
                rest = parts[i:]
                if not rest or rest == [""]:
                    return None
                params[seg.value] = "/".join(rest)
                return params
            if i >= len(parts):
                return None
            part = parts[i]
            if seg.kind == 0:
                if part != seg.value:
                    return None
            else:
                if part == "":
                    return None
                params[seg.value] = part
        return params if len(parts) == len(self.segments) else None

    def specificity(self) -> tuple[int, ...]:
        return (9,) if self.catch_all else tuple(s.kind for s in self.segments)


def compile_route(route: HttpRoute) -> CompiledRoute:
    if route.path == "$default":
        return CompiledRoute(route=route, segments=(), catch_all=True)
    if not route.path.startswith("/"):
        raise ValueError(f"route path must start with '/': {route.path!r}")
    segments: list[_Segment] = []
    raw_segments = route.path.split("/")[1:]
    for i, raw in enumerate(raw_segments):
        m = _PARAM.match(raw)
        if m is None:
            if "{" in raw or "}" in raw:
                raise ValueError(f"unsupported path segment {raw!r} in {route.path!r}")
            segments.append(_Segment(0, raw))
        elif m.group(2):
            if i != len(raw_segments) - 1:
                raise ValueError(f"a greedy parameter must be the last segment: {route.path!r}")
            segments.append(_Segment(2, m.group(1)))
        else:
            segments.append(_Segment(1, m.group(1)))
    return CompiledRoute(route=route, segments=tuple(segments))


class RouteTable:
    """API Gateway HTTP API route selection: the most specific matching path; `ANY` after exact methods."""

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self.routes = tuple(compile_route(r) for r in routes)
        keys = [r.route_key for r in self.routes]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise ValueError(f"duplicate routes: {sorted(duplicates)}")

    def match(self, method: str, raw_path: str) -> tuple[CompiledRoute, dict[str, str]]:
        method = method.upper()
        candidates: list[tuple[tuple[int, ...], int, CompiledRoute, dict[str, str]]] = []
        path_matched_methods: list[str] = []
        for compiled in self.routes:
            params = compiled.match(raw_path)
            if params is None:
                continue
            route_method = compiled.route.method
            if not compiled.catch_all:
                path_matched_methods.append(route_method)
            if compiled.catch_all or route_method in (method, "ANY"):
                exactness = 0 if route_method == method else 1
                candidates.append((compiled.specificity(), exactness, compiled, params))
        if not candidates:
            if path_matched_methods:
                raise MethodNotAllowedError(sorted(set(path_matched_methods)))
            raise RouteNotFoundError(raw_path)
        candidates.sort(key=lambda c: (c[0], c[1]))
        _, _, best, params = candidates[0]
        return best, params


# ----------------------------------------------------------------------------------------------------- events


@dataclass
class HttpRequest:
    """An HTTP request as received: `target` is the request-target ("/path?query"), headers in order."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    server_port: int = 80
    scheme: str = "http"


@dataclass
class EventOptions:
    """The parts of an event that differ between two identical requests (fixed for reproducible files)."""

    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    trace_id: str | None = None


def split_target(target: str) -> tuple[str, str]:
    """(rawPath, rawQueryString) of a request-target (maybe in absolute form); the path percent-decoded."""
    if not target.startswith("/"):
        parts = urlsplit(target)
        return unquote(parts.path or "/"), parts.query
    path, _, query = target.partition("?")
    query = query.partition("#")[0]
    return unquote(path), query


def query_parameters(raw_query: str) -> dict[str, str]:
    """Decoded query parameters, repeated keys comma-joined, `a=` and bare `a` as empty strings."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def _trace_id(when: datetime) -> str:
    return f"Root=1-{int(when.timestamp()):08x}-{secrets.token_hex(12)}"


def build_event(
    request: HttpRequest,
    route_key: str,
    path_parameters: Mapping[str, str],
    options: EventOptions | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload 2.0 event for `request` on the route `route_key`."""
    opts = options or EventOptions()
    raw_path, raw_query = split_target(request.target)
    headers, cookies = _event_headers(request, opts)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = _request_context(request, route_key, raw_path, headers, opts)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event.update(_event_body(request.body))
    return event


def _event_headers(request: HttpRequest, opts: EventOptions) -> tuple[dict[str, str], list[str]]:
    """(headers, cookies) as API Gateway passes them: names lower-cased, repeats comma-joined, the cookies apart,
    the x-forwarded-* and trace headers added."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lname] = f"{headers[lname]},{value}" if lname in headers else value
    if request.body and "content-length" not in headers:
        headers["content-length"] = str(len(request.body))
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    headers.setdefault("x-forwarded-port", str(request.server_port))
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-amzn-trace-id", opts.trace_id or _trace_id(opts.time))
    return headers, cookies


def _request_context(
    request: HttpRequest, route_key: str, raw_path: str, headers: Mapping[str, str], opts: EventOptions
) -> dict[str, Any]:
    domain = headers.get("host", "localhost")
    domain_name = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
    return {
        "accountId": ACCOUNT_ID,
        "apiId": domain_name.split(".", 1)[0] if ".execute-api." in domain_name else API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": opts.request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": opts.time.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(opts.time.timestamp() * 1000),
    }


def _event_body(body: bytes) -> dict[str, Any]:
    """`body` and `isBase64Encoded`: text as is, other bytes in base64, no `body` when empty."""
    if not body:
        return {"isBase64Encoded": False}
    try:
        return {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "isBase64Encoded": True}


def route_arn(event: Mapping[str, Any]) -> str:
    """The `routeArn` of an authorizer event: arn:aws:execute-api:region:account:api/stage/METHOD/path."""
    context = event["requestContext"]
    return (
        f"arn:aws:execute-api:{REGION}:{context['accountId']}:{context['apiId']}/{context['stage']}/"
        f"{context['http']['method']}{event['rawPath']}"
    )


def identity_values(authorizer: LambdaAuthorizer, event: Mapping[str, Any]) -> list[str] | None:
    """The values of the authorizer's identity sources in a route's event; None when one is missing or empty
    (blank counts as empty: an HTTP header value never starts or ends with whitespace)."""
    headers: Mapping[str, str] = event.get("headers") or {}
    query: Mapping[str, str] = event.get("queryStringParameters") or {}
    values = [headers.get(name.lower()) for name in authorizer.identity_headers]
    values += [query.get(name) for name in authorizer.identity_query_strings]
    if any(value is None or not value.strip() for value in values):
        return None
    return [str(value) for value in values]


def build_authorizer_event(event: Mapping[str, Any], identity: Sequence[str] | None) -> dict[str, Any]:
    """The HTTP API Lambda authorizer event (payload 2.0, REQUEST) for a route's event (no body)."""
    auth_event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn(event),
        "identitySource": list(identity) if identity is not None else None,
        "routeKey": event["routeKey"],
        "rawPath": event["rawPath"],
        "rawQueryString": event["rawQueryString"],
    }
    for key in ("cookies", "headers", "queryStringParameters"):
        if key in event:
            auth_event[key] = copy.deepcopy(event[key])
    auth_event["requestContext"] = copy.deepcopy(event["requestContext"])
    if "pathParameters" in event:
        auth_event["pathParameters"] = dict(event["pathParameters"])
    return auth_event


class InvalidAuthorizerResponseError(ValueError):
    """An authorizer's result is not a simple response."""


def simple_response(result: Any) -> tuple[bool, dict[str, Any]]:
    """(isAuthorized, context) of a simple authorizer response."""
    if not isinstance(result, dict) or not isinstance(result.get("isAuthorized"), bool):
        raise InvalidAuthorizerResponseError(f"not a simple response (isAuthorized must be a boolean): {result!r}")
    context = result.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise InvalidAuthorizerResponseError(f"the context of a simple response must be an object: {context!r}")
    return result["isAuthorized"], context


class AuthorizerCache:
    """Authorizer results by (authorizer, identity source values), each kept for its authorizer's TTL."""

    MAX_ENTRIES: Final = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, bool, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, identity: Sequence[str]) -> tuple[bool, dict[str, Any]] | None:
        key = (name, tuple(identity))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, authorized, context = entry
            if self.clock() >= expires:
                del self._entries[key]
                return None
            return authorized, copy.deepcopy(context)

    def put(self, name: str, identity: Sequence[str], ttl_s: int, authorized: bool, context: dict[str, Any]) -> None:
        if ttl_s <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
            self._entries[(name, tuple(identity))] = (now + ttl_s, authorized, copy.deepcopy(context))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# ---------------------------------------------------------------------------------------------------- invoking


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, payload: Mapping[str, Any], extra: Sequence[tuple[str, str]] = ()) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HttpResponse(status, [("content-type", "application/json"), *extra], body)


def internal_error() -> HttpResponse:
    return json_response(500, {"message": "Internal server error"})


def _json_bytes(value: Any, *, compact: bool) -> int:
    """The size of `value` as JSON: API Gateway's event (compact, UTF-8), or a result as the Python runtime of
    Lambda serializes it (json.dumps' defaults)."""
    if compact:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    return len(json.dumps(value).encode())


def translate_result(result: Any) -> HttpResponse:
    """A payload 2.0 handler result as API Gateway turns it into the HTTP response."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Not a formatted response: API Gateway infers 200, JSON, with the result as the body.
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode())
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"invalid statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("set-cookie", str(c)) for c in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw_body), validate=True)
    else:
        body = raw_body.encode() if isinstance(raw_body, str) else json.dumps(raw_body).encode()
    return HttpResponse(status, headers, body)


_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}
)


class LocalApi:
    """Routes requests to handlers, through their authorizers; knows nothing about sockets (unit-testable).

    Without `routes`, the template's routes and authorizers; with `routes`, the given `authorizers` (none by
    default). `clock` (monotonic seconds) times the authorizer cache. Handlers run through `invoker` (e.g. a
    WorkerPool); by default in this process, one at a time.
    """

    def __init__(
        self,
        routes: Iterable[HttpRoute] | None = None,
        authorizers: Mapping[str, LambdaAuthorizer] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        invoker: Invoker | None = None,
    ) -> None:
        if routes is None:
            routes = http_routes()
            if authorizers is None:
                authorizers = http_authorizers()
        self.table = RouteTable(routes)
        self.authorizers: dict[str, LambdaAuthorizer] = dict(authorizers or {})
        missing = {c.route.authorizer for c in self.table.routes} - set(self.authorizers) - {None}
        if missing:
            raise ValueError(f"routes use unknown authorizers: {sorted(str(m) for m in missing)}")
        self.authorizer_cache = AuthorizerCache(clock)
        self.invoker: Invoker = invoker or InProcessInvoker()

    def _invoke(self, handler_name: str, function: str, event: dict[str, Any], request_id: str, timeout_ms: int) -> Any:
        return self.invoker.invoke(handler_name, function, event, request_id, timeout_ms)

    def authorize(self, authorizer: LambdaAuthorizer, event: dict[str, Any], request_id: str) -> HttpResponse | None:
        """API Gateway's authorizer step for a route's event: None to go on (the event now carries the
        authorizer's context), else the response to send instead."""
        identity: list[str] | None = None
        if authorizer.identity_source:
            identity = identity_values(authorizer, event)
            if identity is None:
                return json_response(401, {"message": "Unauthorized"})
            cached = self.authorizer_cache.get(authorizer.name, identity)
        else:
            cached = None
        if cached is None:
            try:
                result = self._invoke(
                    authorizer.handler,
                    authorizer.function,
                    build_authorizer_event(event, identity),
                    request_id,
                    authorizer.timeout_s * 1000,
                )
                authorized, context = simple_response(result)
            except Exception:
                sys.stderr.write(f"chat-memory: authorizer {authorizer.name} ({authorizer.handler}) failed:\n")
                traceback.print_exc(file=sys.stderr)
                return internal_error()
            if identity is not None:
                self.authorizer_cache.put(authorizer.name, identity, authorizer.ttl_seconds, authorized, context)
        else:
            authorized, context = cached
        if not authorized:
            return json_response(403, {"message": "Forbidden"})
        event["requestContext"]["authorizer"] = {"lambda": context}
        return None

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        extra = [("apigw-requestid", request_id)]
        raw_path, query = split_target(request.target)
        if request.method in ("GET", "HEAD") and raw_path in (DOCS_PATH, OPENAPI_JSON_PATH):
            # Local only: the API's description and Swagger UI (not a route of the template). The page links its
            # document as /docs?format=json.
            if raw_path == DOCS_PATH and "format=json" not in query:
                return HttpResponse(200, [("content-type", "text/html; charset=utf-8"), *extra], docs_html())
            return HttpResponse(200, [("content-type", "application/json"), *extra], openapi_json())
        try:
            compiled, params = self.table.match(request.method, raw_path)
        except MethodNotAllowedError as exc:
            return json_response(405, {"message": "Method Not Allowed"}, [*extra, ("allow", ", ".join(exc.allowed))])
        except RouteNotFoundError:
            return json_response(404, {"message": "Not Found"}, extra)
        event = build_event(request, compiled.route_key, params, EventOptions(request_id=request_id))
        refused: HttpResponse | None = None
        if compiled.route.authorizer is not None:
            refused = self.authorize(self.authorizers[compiled.route.authorizer], event, request_id)
        if refused is not None:
            response = refused
        elif (size := _json_bytes(event, compact=True)) > LAMBDA_REQUEST_BYTES:
            sys.stderr.write(
                f"chat-memory: {compiled.route_key}: the event is {size:,} bytes, over Lambda's "
                f"{LAMBDA_REQUEST_BYTES:,}-byte invocation payload: 413, not invoked\n"
            )
            response = json_response(413, {"message": "Request Entity Too Large"})
        else:
            # The function's own Timeout (what its context reports, what its deadline is drawn from), within API
            # Gateway's integration timeout. A function that times out is a 500 on an HTTP API; the integration's
            # timeout, a 503.
            timeout_ms = min(INTEGRATION_TIMEOUT_MS, (compiled.route.timeout_s or math.inf) * 1000)
            try:
                result = self._invoke(
                    compiled.route.handler, compiled.route.function, event, request_id, int(timeout_ms)
                )
                if (size := _json_bytes(result, compact=False)) > LAMBDA_RESPONSE_BYTES:
                    sys.stderr.write(
                        f"chat-memory: {compiled.route_key} ({compiled.route.handler}) answered {size:,} bytes, "
                        f"over Lambda's {LAMBDA_RESPONSE_BYTES:,}-byte response payload: 500\n"
                    )
                    response = json_response(500, {"message": "Internal Server Error"})
                else:
                    response = translate_result(result)
            except InvocationTimeoutError:
                sys.stderr.write(f"chat-memory: {compiled.route_key} ({compiled.route.handler}) timed out\n")
                if timeout_ms < INTEGRATION_TIMEOUT_MS:
                    response = internal_error()
                else:
                    response = json_response(503, {"message": "Service Unavailable"})
            except Exception:
                sys.stderr.write(f"chat-memory: {compiled.route_key} ({compiled.route.handler}) failed:\n")
                traceback.print_exc(file=sys.stderr)
                response = internal_error()
        response.headers = [(k, v) for k, v in response.headers if k.lower() not in _HOP_BY_HOP]
        response.headers.extend(extra)
        return response


# ------------------------------------------------------------------------------------------------------ server


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chat-memory-local"
    # Headers and body go out in separate writes: with Nagle's algorithm, a keep-alive client's delayed ACK held
    # every response back by 40 ms.
    disable_nagle_algorithm = True
    server: _HttpServer

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 413/400 (the connection is then closed)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    chunk_size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self._send_error(400, "Bad Request")
                    return None
                if chunk_size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                size += chunk_size
                if size > MAX_BODY_BYTES:
                    self._send_error(413, "Request Entity Too Large")
                    return None
                chunks.append(self.rfile.read(chunk_size))
                self.rfile.readline(1024)
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            self._send_error(400, "Bad Request")
            return None
        if length < 0:
            self._send_error(400, "Bad Request")
            return None
        if length > MAX_BODY_BYTES:
            self._send_error(413, "Request Entity Too Large")
            return None
        return self.rfile.read(length) if length else b""

    def _send_error(self, status: int, message: str) -> None:
        self.close_connection = True
        self._send(json_response(status, {"message": message}), close=True)

    def _send(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _dispatch(self) -> None:
        with self.server.in_flight():
            self._handle_one()

    def _handle_one(self) -> None:
        started = time.perf_counter()
        body = self._read_body()
        if body is None:
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
            server_port=self.server.server_address[1],
        )
        response = self.server.api.handle(request)
        self._send(response)
        if self.server.access_log:
            ms = (time.perf_counter() - started) * 1000
            sys.stderr.write(f"{self.command} {self.path} {response.status} {ms:.1f}ms\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, ...): http.server would answer its own HTML 501; API Gateway matches it
        # against the routes like any method (so: 404, or 405 here).
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch writes a shorter access line

    def log_error(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"chat-memory: {format % args}\n")


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: LocalApi, *, access_log: bool) -> None:
        self.api = api
        self.access_log = access_log
        self._active = 0
        self._idle = threading.Condition()
        super().__init__(address, _RequestHandler)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is being handled (after shutdown(): the requests already accepted are answered)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout_s)


class LocalServer:
    """The HTTP server on (host, port); port 0 picks a free one. `start()` serves from a thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        api: LocalApi | None = None,
        access_log: bool = True,
    ) -> None:
        self.api = api or LocalApi()
        self.httpd = _HttpServer((host, port), self.api, access_log=access_log)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> str:
        self._thread = threading.Thread(target=self.serve_forever, name="chat-memory-http", daemon=True)
        self._thread.start()
        return self.url

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


API_KEY_ENV: Final = "CHAT_MEMORY_API_KEY"
LOCAL_TENANT: Final = "default"
LOCAL_KEY_NAME: Final = "local"


class LocalSetupError(RuntimeError):
    """The local server cannot start as configured (the message says why)."""


def local_api_key(table_name: str, endpoint_url: str, data: DataDir | None = None) -> str:
    """Store $CHAT_MEMORY_API_KEY for the `default` tenant, or create a key; the start-up line that says which.

    A created key is in that line, the only place it is ever shown, and is kept in the data folder (when there is
    one) so that the next start shows the same key; a key from the environment is not repeated.
    """
    import boto3

    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
    from chat_memory.domain.errors import ChatMemoryError

    store = ApiKeyStore(table_name, client=boto3.client("dynamodb", endpoint_url=endpoint_url))
    given = os.environ.get(API_KEY_ENV, "").strip()
    if given:
        try:
            store.ensure(LOCAL_TENANT, LOCAL_KEY_NAME, given)
        except ChatMemoryError as exc:  # e.g. that key is revoked, or another tenant's, in this table
            raise LocalSetupError(f"{API_KEY_ENV}: {exc.message}") from exc
        return f"API key: (from {API_KEY_ENV})"
    saved = data.saved_api_key() if data is not None else None
    if saved is not None:
        try:
            store.ensure(LOCAL_TENANT, LOCAL_KEY_NAME, saved)
            return f"API key for tenant {LOCAL_TENANT}: {saved}"
        except ChatMemoryError:
            pass  # revoked meanwhile (chat-memory keys revoke): make a new one
    _, secret = store.create(LOCAL_TENANT, LOCAL_KEY_NAME)
    if data is not None:
        data.save_api_key(secret)
    return f"API key for tenant {LOCAL_TENANT}: {secret}"


DRAIN_TIMEOUT_S: Final = 30.0  # at a stop: for the requests in flight, then for the stream consumers to catch up


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    table_name: str | None = None,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    stream_consumers: bool = True,
    workers: int = DEFAULT_WORKERS,
    data_dir: Path | None = None,
) -> None:
    """Serve the API until interrupted (or until `stop` is set): DynamoDB, table, handlers' env, API key, HTTP.

    The embedded DynamoDB keeps its data in `data_dir` (None: in memory only). The routes need an API key
    (template.yaml's authorizer): $CHAT_MEMORY_API_KEY is stored for the `default` tenant, else the key kept in the
    data folder, else a new key is created and printed. With `stream_consumers` (the default) the functions that
    read the table's stream in template.yaml (the summariser and the purger) are driven from it in the background
    (chat_memory_dev.local.stream). Every handler (routes, authorizer, stream consumers) runs in one of `workers` worker
    processes, or in this process one at a time when `workers` is 0. A stop answers the requests in flight, lets the
    stream consumers catch up, stops the workers and closes the data folder (with a fresh snapshot when all went
    quiet). `ready` is set once requests are accepted. Blocking; run it in a thread to embed it.
    """
    if workers < 0:
        raise LocalSetupError(f"workers must be 0 (in-process) or more, not {workers}")
    key_given = bool(os.environ.get(PAGE_TOKEN_KEY_ENV))
    table = set_handler_env(table_name)
    quiet_warnings()
    db = _start_dynamodb(table, data_dir)
    keep_page_token_key(db.data, key_given)
    pool = WorkerPool(workers) if workers else None
    quiet = False
    try:
        key_line = local_api_key(table, db.endpoint_url, db.data)
        server = LocalServer(host, port, api=LocalApi(invoker=pool))
        sweeper = _ttl_sweeper(db) if stream_consumers else None
        try:
            pollers = _start_serving(server, db, pool, key_line, stream_consumers=stream_consumers, stop=stop)
            if ready is not None:
                ready.set()
            try:
                server.serve_forever()
            finally:
                quiet = _wind_down(server, pollers)
        finally:
            if sweeper is not None:
                sweeper.stop()
            server.httpd.server_close()
    finally:
        if pool is not None:
            pool.close()
        db.close(compact=quiet)


TTL_SWEEP_ENV = "CHAT_MEMORY_TTL_SWEEP_SECONDS"  # how often the embedded DynamoDB's TTL sweep runs (default 60)


def _ttl_sweeper(db: LocalDynamoDB) -> Any:
    """The embedded DynamoDB's Time to Live (moto has none): expired items deleted every minute, their REMOVE
    records marked as TTL's (the purger's filter takes them). None for another DynamoDB, which has its own."""
    if db.embedded is None:
        return None
    import boto3

    from chat_memory_dev.localdb.ttl import SWEEP_INTERVAL_S, TtlSweeper

    interval = float(os.environ.get(TTL_SWEEP_ENV) or SWEEP_INTERVAL_S)
    sweeper = TtlSweeper(boto3.client("dynamodb", endpoint_url=db.endpoint_url), db.table_name, interval)
    sweeper.start()
    return sweeper


def _start_dynamodb(table: str, data_dir: Path | None) -> LocalDynamoDB:
    """`start_local_dynamodb`, its data folder's errors as LocalSetupError (the message says why)."""
    from chat_memory_dev.localdb.dynamodb import DataDirConflictError, start_local_dynamodb
    from chat_memory_dev.localdb.persistence import DataDirError

    try:
        return start_local_dynamodb(table, data_dir)
    except (DataDirError, DataDirConflictError) as exc:
        raise LocalSetupError(str(exc)) from exc


def _start_serving(
    server: LocalServer,
    db: LocalDynamoDB,
    pool: WorkerPool | None,
    key_line: str,
    *,
    stream_consumers: bool,
    stop: threading.Event | None,
) -> list[StreamPoller]:
    """Start the stream consumers and the workers, print the start-up lines, watch `stop`; the consumers."""
    from chat_memory_dev.local.stream import start_stream_pollers

    pollers = start_stream_pollers(db, invoker=server.api.invoker) if stream_consumers else []
    if pool is not None:
        pool.start()  # now: the workers inherit the environment serve set up (endpoint, consumers' settings)
    _print_start(server, db, pollers, pool.size if pool is not None else 0, key_line)
    if stop is not None:
        threading.Thread(target=_stop_when_set, args=(stop, server), name="chat-memory-stop", daemon=True).start()
    return pollers


def _stop_when_set(stop: threading.Event, server: LocalServer) -> None:
    stop.wait()
    server.httpd.shutdown()


def _print_start(server: LocalServer, db: Any, pollers: Sequence[Any], workers: int, key_line: str) -> None:
    driven = ", ".join(p.consumer.function for p in pollers) or "none"
    handlers = f"{workers} worker processes" if workers else "in-process"
    # The embedded endpoint is shown so that `chat-memory keys` can reach the table while this runs.
    dynamodb = db.description if db.embedded is None else f"{db.description} at {db.endpoint_url}"
    print(
        f"chat-memory serving {server.url} (DynamoDB: {dynamodb}, table: {db.table_name}, stream consumers: {driven}, "
        f"handlers: {handlers})",
        flush=True,
    )
    if db.data is not None and db.loaded is not None:
        loaded = db.loaded
        line = (
            f"Data: kept in {db.data.path} ({loaded.items:,} items in {loaded.tables} tables at start, "
            f"{loaded.journal_calls:,} journaled calls replayed)"
        )
        if loaded.torn_tail:
            line += " (the journal's last line was incomplete: a call that was never answered, dropped)"
        print(line, flush=True)
    elif db.embedded is not None:
        print("Data: in memory only (--in-memory): everything is lost when this server stops", flush=True)
    print(key_line, flush=True)
    print(f"API docs: {server.url}{DOCS_PATH} (OpenAPI: {server.url}{OPENAPI_JSON_PATH})", flush=True)


def _wind_down(server: LocalServer, pollers: Sequence[Any]) -> bool:
    """Stop taking requests, answer those in flight, let the stream consumers catch up, stop them. True when all of
    that finished in time (nothing is left for the stream consumers: the data folder may start a new snapshot)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    try:
        server.httpd.shutdown()
        quiet = server.httpd.wait_idle(DRAIN_TIMEOUT_S)
        for poller in pollers:
            quiet = poller.wait_caught_up(max(0.0, deadline - time.monotonic())) and quiet
        return quiet
    finally:
        for poller in pollers:
            poller.stop()


__all__ = [
    "API_KEY_ENV",
    "DEFAULT_TABLE_NAME",
    "DEFAULT_WORKERS",
    "LAMBDA_REQUEST_BYTES",
    "LAMBDA_RESPONSE_BYTES",
    "MAX_BODY_BYTES",
    "AuthorizerCache",
    "CompiledRoute",
    "EventOptions",
    "HttpRequest",
    "HttpResponse",
    "LocalApi",
    "LocalServer",
    "LocalSetupError",
    "MethodNotAllowedError",
    "RouteNotFoundError",
    "RouteTable",
    "build_authorizer_event",
    "build_event",
    "local_api_key",
    "query_parameters",
    "serve",
    "set_handler_env",
    "split_target",
    "translate_result",
]
