"""The resolver every HTTP function uses: the request's scope (tenant, deadline, consumed capacity) and domain errors
-> HTTP in one place."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Annotated, Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.depends import DependencyResolutionError, Depends
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import deadline
from chat_memory.domain.errors import (
    ChatMemoryError,
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    StoreUnavailableError,
    UnauthorizedError,
)
from chat_memory.domain.retention import is_retention_days
from chat_memory.observability import logger, metrics
from chat_memory.settings import get_settings

JSON = "application/json"
CONSUMED_CAPACITY_HEADER = "X-Consumed-Capacity"
# Where the next page of a list starts (absent on the last page).
NEXT_PAGE_HEADER = "X-Next-Page-Token"
# A memory read to a token budget (?max_tokens=N): the tokens it holds, and whether the budget left something out.
MEMORY_TOKENS_HEADER = "X-Memory-Tokens"
MEMORY_TRUNCATED_HEADER = "X-Memory-Truncated"
# Kept from the invocation's remaining time for answering once the store gave up (a 503, metrics, logs).
RESPONSE_MARGIN_SECONDS = 1.0

Middleware = Callable[[APIGatewayHttpResolver, NextMiddleware], Response[Any]]

# `<name>` in a route matches one path segment as API Gateway delivers it: percent-decoded, so any character
# but '/'. Powertools' own placeholder accepts only word characters and a few symbols (no emoji, no '"'), and it
# has no public setting for it: this override is the one place (tests/unit/test_api_edge.py fails loudly if
# Powertools stops calling it; pyproject.toml pins Powertools' minor version).
_PLACEHOLDER = re.compile(r"<(\w+)>")


class _Resolver(APIGatewayHttpResolver):
    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$") -> re.Pattern[str]:
        return re.compile(base_regex.format(_PLACEHOLDER.sub(r"(?P<\1>[^/]+)", rule)))


class Consumption(Protocol):
    read_units: float
    write_units: float

    def header(self) -> str: ...


Meter = Callable[[], AbstractContextManager[Consumption]]

_STATUS: dict[type[ChatMemoryError], int] = {
    InvalidInputError: 400,
    UnauthorizedError: 401,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    IdempotencyKeyReusedError: 422,
    StoreUnavailableError: 503,
}


def json_text(body: Any) -> str:
    """Every JSON answer's text, errors included: compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=JSON, body=body, headers=headers)


def _error(status: int, message: str, **extra: Any) -> Response[Any]:
    return json_response(status, {"message": message, **extra})


def domain_error(exc: ChatMemoryError) -> Response[Any]:
    """The one mapping of domain errors to HTTP."""
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    headers = None
    if isinstance(exc, StoreUnavailableError):
        logger.warning("store unavailable", extra={"reason": exc.message})
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return json_response(status, {"message": exc.message}, headers=headers)


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _reason(error: dict[str, Any]) -> str:
    # pydantic prefixes a validator's ValueError with "Value error, ": the rule's own words read better alone.
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def parse_json_body(text: str) -> Any:
    """json.loads for request bodies, where every failure is the caller's: a JSONDecodeError, which Powertools
    turns into a validation error (400), never a 500.

    Beyond malformed JSON: nesting deeper than the parser's recursion limit, integers longer than Python's
    4300-digit limit, and `\\ud800`-style escapes of lone surrogates (valid JSON, but not text: nothing can
    store or send them as UTF-8).
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # the integer digit limit
        raise json.JSONDecodeError(str(exc), text, 0) from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise json.JSONDecodeError("a \\u escape is a lone surrogate, not a character", text, 0) from None
    return value


def _invalid_request(exc: RequestValidationError) -> Response[Any]:
    errors = [{"location": _location(e.get("loc", ())), "message": _reason(e)} for e in exc.errors()]
    invalid_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = (invalid_json.get("ctx") or {}).get("error")
        detail = f": {reason}" if reason else ""
        return _error(400, f"the request body is not valid JSON{detail}", errors=errors)
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:3])
    return _error(400, f"invalid request: {summary}", errors=errors)


def error_response(exc: Exception) -> Response[Any] | None:
    """The answer to what a caller did wrong, or what the store could not do; None for anything else (a 500)."""
    if isinstance(exc, DependencyResolutionError):
        # Powertools wraps what a dependency raised: a domain error (a store that is unavailable) is still one.
        exc = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    if isinstance(exc, ChatMemoryError):
        return domain_error(exc)
    if isinstance(exc, RequestValidationError):
        return _invalid_request(exc)
    if isinstance(exc, UnicodeDecodeError):
        return _error(400, "the request body must be UTF-8 encoded JSON")
    return None


def capacity_scope(meter: Meter) -> Middleware:
    """The request's scope: its deadline (the invocation's remaining time, minus the time to answer) and the
    DynamoDB capacity it consumed, as DynamoDB reported it (a header on every answer, metrics for the operator).
    The outermost layer: it answers the errors of every layer inside it, so that those answers carry the header."""

    def scope(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        budget = app.lambda_context.get_remaining_time_in_millis() / 1000 - RESPONSE_MARGIN_SECONDS
        with meter() as consumed, deadline.within(budget):
            try:
                response = next_middleware(app)
            except Exception as exc:
                answer = error_response(exc)
                if answer is None:
                    raise
                response = answer
        response.headers[CONSUMED_CAPACITY_HEADER] = consumed.header()
        metrics.add_metric(name="ConsumedReadCapacityUnits", unit="Count", value=consumed.read_units)
        metrics.add_metric(name="ConsumedWriteCapacityUnits", unit="Count", value=consumed.write_units)
        return response

    return scope


def build_resolver(middlewares: Sequence[Middleware]) -> APIGatewayHttpResolver:
    """A resolver with request validation, the request's scope (`middlewares`, outermost first) and the
    project's error mapping."""
    app = _Resolver(enable_validation=True, json_body_deserializer=parse_json_body, serializer=json_text)
    app.use(list(middlewares))
    for handled in (RequestValidationError, DependencyResolutionError, ChatMemoryError, UnicodeDecodeError):
        app.exception_handler(handled)(error_response)  # what a middleware let through

    @app.not_found
    def _no_route(_: Exception) -> Response[Any]:
        return _error(404, f"no route for {app.current_event.http_method} {app.current_event.path}")

    return app


# Zep's v1 API (Zep 0.27, zep-python 1.x): each function's v1 routes, on a router included under this prefix.
V1_PREFIX = "/api/v1"


def v1_router() -> APIGatewayHttpRouter:
    """A router for a function's /api/v1 routes (`app.include_router(router, prefix=V1_PREFIX)`)."""
    return APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ has no annotations


def serve_unchanged_on_v1(
    app: APIGatewayHttpResolver, router: APIGatewayHttpRouter, twins: Sequence[tuple[str, str, str]]
) -> None:
    """v2 routes that v1 answers alike, served on the v1 router by their own function, with their documentation:
    each (method, v2 path, path under V1_PREFIX). Only the operation id (`v1_` + v2's) and the tag differ."""
    routes = {(route.method, route.path): route for route in (*app._static_routes, *app._dynamic_routes)}
    for method, v2_path, v1_path in twins:
        route = routes[(method, v2_path)]
        router.route(
            v1_path,
            method,
            summary=f"{route.summary} (v1)",
            tags=["v1"],
            operation_id=f"v1_{route.operation_id}",
            responses=route.responses,
        )(route.func)


def _tenant(request: Request) -> str:
    """The caller's tenant: only ever from the authorizer (resolve() puts it in the request's context)."""
    tenant: str = request.context["tenant"]
    return tenant


# A route's `tenant: Tenant` parameter.
Tenant = Annotated[str, Depends(_tenant)]

RETENTION_CONTEXT_KEY = "retention_days"  # the authorizer's context: the tenant's own retention period, if any


def _tenant_retention_days(request: Request) -> int:
    """The caller's tenant's retention period in days (0: for ever): its own, from the authorizer, else the
    deployment's (RETENTION_DAYS)."""
    own = request.context.get(RETENTION_CONTEXT_KEY)
    if own is not None:
        days: int = own
        return days
    return get_settings().retention_days


# A writing route's `retention_days: TenantRetention` parameter (sessions without their own period get it).
TenantRetention = Annotated[int, Depends(_tenant_retention_days)]


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON or media_type.endswith("+json")


def _error_result(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON},
        "body": json_text({"message": message}),
        "isBase64Encoded": False,
    }


def _authorizer_context(event: dict[str, Any]) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    context = authorizer.get("lambda") or {}
    return context if isinstance(context, dict) else {}


def _authorized_tenant(event: dict[str, Any]) -> str | None:
    tenant = _authorizer_context(event).get("tenant")
    return tenant if isinstance(tenant, str) and tenant else None


def _authorized_retention_days(event: dict[str, Any]) -> int | None:
    """The tenant's own retention period the authorizer found (a number, or its digits), else None."""
    days = _authorizer_context(event).get(RETENTION_CONTEXT_KEY)
    if isinstance(days, str) and days.isascii() and days.isdigit():
        days = int(days)
    return days if is_retention_days(days) else None


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve an event for the tenant the authorizer named; 401 without one, 415 for a body that is not JSON.

    Both are answered before anything else runs (no Idempotency-Key record, no table access). Powertools would
    parse a form-encoded body as a form (so `curl -d '{...}'` without a Content-Type would arrive as an empty
    request) and answer other types in its own error format.
    """
    tenant = _authorized_tenant(event)
    if tenant is None:
        return _error_result(401, "a valid API key is required: 'Authorization: Bearer <key>'")
    headers = event.get("headers") or {}
    content_type = headers.get("content-type", "")
    if event.get("body") and content_type and not _is_json(content_type):
        return _error_result(415, f"the request body must be JSON sent as Content-Type: {JSON} (got {content_type!r})")
    if content_type:
        # Any JSON media type (`application/JSON`, `application/vnd.api+json`) is JSON here; Powertools would answer
        # the ones it does not know with its own 415 body.
        event = {**event, "headers": {**headers, "content-type": JSON}}
    # What append_context does (untyped); both keys every time, so nothing of one request reaches the next.
    app.context.update({"tenant": tenant, RETENTION_CONTEXT_KEY: _authorized_retention_days(event)})
    return app.resolve(event, context)
