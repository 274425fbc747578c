"""The resolver every HTTP function uses: validation at the edge and domain errors -> HTTP in one place."""

from __future__ import annotations

import json
import re
import uuid
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import deadline
from chat_memory.adapters.dynamodb.consumed import measure
from chat_memory.api.idempotency import resolve_once
from chat_memory.api.schemas import UUID_PATTERN, path_safe_id
from chat_memory.domain import limits
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
from chat_memory.domain.models import MemoryType
from chat_memory.observability import logger, metrics

JSON = "application/json"
CONSUMED_CAPACITY_HEADER = "X-Consumed-Capacity"
# GET /sessions?page_token=...: where the next page starts (absent on the last page).
NEXT_PAGE_HEADER = "X-Next-Page-Token"

# `<name>` in a route matches one path segment as API Gateway delivers it: percent-decoded, so any character
# but '/'. (Powertools' own placeholder accepts only word characters and a few symbols: no emoji, no '"'.)
_PLACEHOLDER = re.compile(r"<(\w+)>")
_DECIMAL = re.compile(r"[0-9]{1,18}")
_UUID = re.compile(UUID_PATTERN)


class _Resolver(APIGatewayHttpResolver):
    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$") -> re.Pattern[str]:
        return re.compile(base_regex.format(_PLACEHOLDER.sub(r"(?P<\1>[^/]+)", rule)))


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


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json_text(body), headers=headers)


def _error(status: int, message: str, **extra: Any) -> Response[str]:
    return json_response(status, {"message": message, **extra})


def _domain_status(exc: ChatMemoryError) -> tuple[int, dict[str, str] | None]:
    """The status and extra headers of a domain error."""
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, StoreUnavailableError):
        logger.warning("store unavailable", extra={"reason": exc.message})
        return status, {"Retry-After": str(exc.retry_after_seconds)}
    return status, None


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc) or "request"


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


def build_resolver() -> APIGatewayHttpResolver:
    """A resolver with request validation and the project's error mapping registered."""
    app = _Resolver(enable_validation=True, json_body_deserializer=parse_json_body)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = [
            {"location": _location(e.get("loc", ())), "message": str(e.get("msg", "invalid value"))}
            for e in exc.errors()
        ]
        invalid_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if invalid_json is not None:
            reason = (invalid_json.get("ctx") or {}).get("error")
            detail = f": {reason}" if reason else ""
            return _error(400, f"the request body is not valid JSON{detail}", errors=errors)
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:3])
        return _error(400, f"invalid request: {summary}", errors=errors)

    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def _not_utf8(_: UnicodeDecodeError) -> Response[str]:
        return _error(400, "the request body must be UTF-8 encoded JSON")

    @app.exception_handler(ChatMemoryError)  # type: ignore[untyped-decorator]
    def _domain_error(exc: ChatMemoryError) -> Response[str]:
        status, headers = _domain_status(exc)
        return json_response(status, {"message": exc.message}, headers=headers)

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return _error(404, f"no route for {app.current_event.http_method} {app.current_event.path}")

    return app


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON or media_type.endswith("+json")


def _error_result(status: int, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, **(headers or {})},
        "body": json_text({"message": message}),
        "isBase64Encoded": False,
    }


# The caller's tenant for the request being handled: set by resolve() from the authorizer's context only.
_tenant: ContextVar[str] = ContextVar("tenant")


def _authorized_tenant(event: dict[str, Any]) -> str | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    tenant = (authorizer.get("lambda") or {}).get("tenant")
    return tenant if isinstance(tenant, str) and tenant else None


# Kept from the invocation's remaining time for answering once the store gave up (a 503, metrics, logs).
RESPONSE_MARGIN_SECONDS = 1.0


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve an event for the tenant the authorizer named; 401 without one, 415 for a body that is not JSON.

    Powertools would parse a form-encoded body as a form (so `curl -d '{...}'` without a Content-Type would
    arrive as an empty request) and answer other types in its own error format.
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
    token = _tenant.set(tenant)
    # The store stops retrying in time for a 503 to be sent before the function's timeout.
    budget = context.get_remaining_time_in_millis() / 1000 - RESPONSE_MARGIN_SECONDS
    try:
        with measure() as consumed, deadline.within(budget):
            try:
                result = resolve_once(lambda: app.resolve(event, context), event, context, tenant)
            except ChatMemoryError as exc:  # from the Idempotency-Key's handling, around the routes
                status, headers = _domain_status(exc)
                result = _error_result(status, exc.message, headers)
    finally:
        _tenant.reset(token)
    # What this request cost in DynamoDB capacity, as DynamoDB reported it: for callers and for the metrics.
    result.setdefault("headers", {})[CONSUMED_CAPACITY_HEADER] = consumed.header()
    metrics.add_metric(name="ConsumedReadCapacityUnits", unit="Count", value=consumed.read_units)
    metrics.add_metric(name="ConsumedWriteCapacityUnits", unit="Count", value=consumed.write_units)
    return result


def current_tenant() -> str:
    """The caller's tenant: it comes only from the authorizer, never from the request."""
    return _tenant.get()


def path_id(raw: str, what: str = "session id") -> str:
    """The id in a path segment. HTTP APIs deliver the path percent-decoded already; zep-python encodes ids
    with `quote_plus`, so what is left to undo is `+` for a space (together: `unquote_plus` semantics)."""
    decoded = raw.replace("+", " ")
    try:
        return path_safe_id(decoded)
    except ValueError as exc:
        raise InvalidInputError(f"{what} {exc}") from exc


def message_uuid(raw: str) -> str:
    """A message id from the path: a UUID, in canonical form (stored uuids are)."""
    # Only the hyphenated form (uuid.UUID would also take braces, "urn:uuid:" and bare hex): what we hand out.
    if not _UUID.fullmatch(raw):
        raise InvalidInputError(f"message id must be a UUID (got {raw!r})")
    return str(uuid.UUID(raw))


def _blank(value: str | None) -> bool:
    # Zep clients send empty query parameters (`?limit=&cursor=`) to mean "absent".
    return value is None or value == ""


def int_param(name: str, value: str | None, *, minimum: int, maximum: int) -> int | None:
    if _blank(value):
        return None
    assert value is not None
    # Plain ASCII digits only (int() would also take "+5", " 5", "5_0" and other scripts' digits).
    number = int(value) if _DECIMAL.fullmatch(value) else None
    if number is None or not minimum <= number <= maximum:
        raise InvalidInputError(f"{name} must be an integer from {minimum} to {maximum} (got {value!r})")
    return number


def memory_type_param(value: str | None) -> MemoryType:
    if _blank(value):
        return MemoryType.PERPETUAL
    assert value is not None
    name = value.removeprefix("MemoryType.")
    try:
        return MemoryType(name)
    except ValueError:
        allowed = ", ".join(t.value for t in MemoryType)
        raise InvalidInputError(f"memoryType must be one of {allowed} (got {value!r})") from None


def lastn_param(value: str | None) -> int | None:
    return int_param("lastn", value, minimum=1, maximum=limits.MAX_LASTN)
