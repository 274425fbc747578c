"""Idempotency-Key on writes: a write sent again with the same key gets the first answer and changes nothing.

Powertools' idempotency utility keeps one record per (tenant, method, path, key) in the memory table
(adapters/dynamodb/idempotency.py), with a hash of the body to refuse the same key for another request
(draft-ietf-httpapi-idempotency-key-header: 422 for a different payload, 409 while the first is in progress).
Only 2xx answers are remembered: after any other outcome the record is deleted, so a retry runs again (a 503
or a 400 is never replayed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from chat_memory.api.http import Middleware
from chat_memory.domain.errors import ChatMemoryError, ConflictError, IdempotencyKeyReusedError, InvalidInputError
from chat_memory.observability import logger
from chat_memory.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

HEADER = "idempotency-key"  # HTTP APIs deliver header names lower-cased
REPLAYED_HEADER = "Idempotent-Replayed"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_CHARS = 255
_VALID_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_CHARS}}}")  # visible ASCII

Remembered = dict[str, Any]  # an answer as the record keeps it


class _NotRememberedError(Exception):
    """A non-2xx answer: raised through Powertools so that it deletes the in-progress record."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__(response.status_code)
        self.response = response


def idempotency_key(event: dict[str, Any]) -> str | None:
    """The write's Idempotency-Key; None without one or for a read (reads ignore it)."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    key = (event.get("headers") or {}).get(HEADER)
    if key is None or method not in WRITE_METHODS:
        return None
    if not (isinstance(key, str) and _VALID_KEY.fullmatch(key)):
        raise InvalidInputError(
            f"the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} visible ASCII characters (no spaces)"
        )
    return key


def request_data(event: dict[str, Any], tenant: str, key: str) -> dict[str, Any]:
    """What Powertools hashes: `scope` names the record (so tenants and routes never share one), `body` is
    compared with the first request's."""
    method = event["requestContext"]["http"]["method"]
    body = event.get("body") or ""
    body_hash = hashlib.sha256(f"{bool(event.get('isBase64Encoded'))}:{body}".encode()).hexdigest()
    return {"scope": [tenant, method, _resource(event), key], "body": body_hash}


def _resource(event: dict[str, Any]) -> str:
    """The path as the handlers read its ids: an HTTP API delivers it percent-decoded, and `+` is a space in an id
    (`a+b` and `a%20b` are one session), so one resource has one scope however its path was spelled."""
    return str(event.get("rawPath", "")).replace("+", " ")


def _remembered(response: Response[Any]) -> Remembered:
    return {"status": response.status_code, "headers": dict(response.headers), "body": response.body}


def replayed_response(remembered: Remembered) -> Response[Any]:
    """A remembered answer. Records of the version before this layer was a middleware (up to a day old after an
    upgrade) hold the Lambda result itself: its body is the JSON text, sent as it was."""
    if "statusCode" in remembered:
        status, body = int(remembered["statusCode"]), remembered.get("body")
        return Response(status_code=status, body=body, headers=remembered.get("headers") or {})
    return Response(status_code=remembered["status"], body=remembered["body"], headers=remembered["headers"])


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    response["headers"] = {**response["headers"], REPLAYED_HEADER: "true"}
    return response


def idempotent_writes(records: Callable[[], BasePersistenceLayer], key_prefix: Callable[[str], str]) -> Middleware:
    """A layer around the routes: a write is run at most once per Idempotency-Key; without a key, simply run.

    `key_prefix(tenant)` names the tenant's records in `records()`. Raises ChatMemoryError for a malformed key
    (400), a key reused for another body (422), a first request still running (409) and a throttled store (503)."""

    def once_per_key(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = app.current_event.raw_event
        key = idempotency_key(event)
        if key is None:
            return next_middleware(app)
        tenant = app.context["tenant"]
        return _run_once(
            lambda: next_middleware(app),
            records=records(),
            config=_config(app.lambda_context),
            prefix=key_prefix(tenant),
            data=request_data(event, tenant, key),
        )

    return once_per_key


def _config(context: LambdaContext) -> IdempotencyConfig:
    # A config per request: it holds this invocation's context (an in-progress record of an invocation that is
    # killed expires with the invocation's remaining time).
    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body",
        expires_after_seconds=get_settings().idempotency_expiry_seconds,
        hash_function="sha256",
        response_hook=_replayed,
    )
    config.register_lambda_context(context)
    return config


def _run_once(
    execute: Callable[[], Response[Any]],
    *,
    records: BasePersistenceLayer,
    config: IdempotencyConfig,
    prefix: str,
    data: Remembered,
) -> Response[Any]:
    answered: list[Remembered] = []

    def remembered(request: dict[str, Any]) -> Remembered:
        response = execute()
        answered.append(_remembered(response))
        if not 200 <= response.status_code < 300:
            raise _NotRememberedError(response)
        return answered[0]

    once = idempotent_function(
        remembered, data_keyword_argument="request", persistence_store=records, config=config, key_prefix=prefix
    )
    try:
        return replayed_response(once(request=data))
    except _NotRememberedError as exc:
        return exc.response
    except IdempotencyValidationError:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used for a request with a different body; use a new key"
        ) from None
    except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
        raise ConflictError("a request with this Idempotency-Key is still in progress; retry shortly") from None
    except IdempotencyPersistenceLayerError as exc:
        if answered:
            # The write ran; only recording its outcome failed. Its answer is the truth (a 503 would invite a
            # retry that could write again once the in-progress record expires).
            logger.warning("idempotency record not updated", extra={"reason": type(exc.__cause__).__name__})
            return replayed_response(answered[0])
        if isinstance(exc.__cause__, ChatMemoryError):
            raise exc.__cause__ from exc
        raise
