"""Domain errors. The API layer maps each to one HTTP status, in one place."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class ChatMemoryError(Exception):
    """Base of every error the service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ChatMemoryError):
    """The caller sent something we cannot accept (HTTP 400)."""


class UnauthorizedError(ChatMemoryError):
    """No valid API key (HTTP 401)."""


class NotFoundError(ChatMemoryError):
    """The session, message or user does not exist (HTTP 404)."""


def found(value: T | None, what: str) -> T:
    """`value`, or NotFoundError for `what` (e.g. "session 's1'") when the store had none."""
    if value is None:
        raise NotFoundError(f"{what} not found")
    return value


class ConflictError(ChatMemoryError):
    """The thing already exists, or the request collides with the current state (HTTP 409)."""


class IdempotencyKeyReusedError(ChatMemoryError):
    """The Idempotency-Key was used before for a different request (HTTP 422)."""


class PayloadTooLargeError(ChatMemoryError):
    """The request is larger than the documented limits (HTTP 413)."""


class IndexItemTooLargeError(ChatMemoryError):
    """An item of the search index would pass DynamoDB's 400 KB item limit: that part is left unindexed."""


class StoreUnavailableError(ChatMemoryError):
    """The store is throttling or unavailable after retries (HTTP 503 with Retry-After)."""

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ModelUnavailableError(StoreUnavailableError):
    """A model (Amazon Bedrock) is throttling, failing or too slow after its client's retries. What can do without it
    does (search ranks lexically only); a request that needs it is a 503 with Retry-After that stored nothing; the
    stream's consumers are retried."""
