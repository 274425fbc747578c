"""DynamoDB's errors as the store's parts see them: throttling and outages (a 503), a full session (a 413), lost races
and throttled transactions (retried by the write loops, within a time budget)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from chat_memory import deadline
from chat_memory.domain.errors import PayloadTooLargeError, StoreUnavailableError

# Error codes that mean "try again later", after botocore's own retries ran out.
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# Cancellation reasons of a transaction that mean the same (botocore does not retry cancelled transactions:
# the write loops do, then answer 503).
_UNAVAILABLE_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
# Cancellation reasons of a transaction that lost a race: re-read and try again.
_CONFLICT_REASONS = frozenset({"None", "ConditionalCheckFailed", "TransactionConflict"})
_SESSION_FULL = "ItemCollectionSizeLimitExceeded"
# How long one write may keep retrying a lost race (or unprocessed batch items) before answering 503; the
# invocation's deadline (chat_memory.deadline) may cut it shorter.
RETRY_BUDGET_SECONDS = 5.0


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_session_full(exc: ClientError) -> bool:
    """A write refused because the partition (a session with its MessagesByUuid entries) holds 10 GB, the limit of
    a table with a local secondary index: retrying cannot help."""
    code = _error_code(exc)
    if code == f"{_SESSION_FULL}Exception":
        return True
    return code == "TransactionCanceledException" and any(
        r.get("Code") == _SESSION_FULL for r in exc.response.get("CancellationReasons", [])
    )


def unavailable() -> StoreUnavailableError:
    return StoreUnavailableError("the memory store is busy; retry shortly", retry_after_seconds=1)


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn DynamoDB throttling/unavailability (after botocore's retries), network failures and a spent deadline
    into the domain's StoreUnavailableError. Cancelled transactions are left to the caller (is_retryable_write)."""
    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in _UNAVAILABLE_CODES:
            raise unavailable() from exc
        if _is_session_full(exc):
            raise PayloadTooLargeError(
                "this session holds 10 GB, DynamoDB's limit for one session: nothing was stored; "
                "continue the conversation in a new session"
            ) from exc
        raise
    except (BotocoreConnectionError, HTTPClientError, deadline.DeadlineExceeded) as exc:
        # A timed-out write may still have happened: the client's retry with its uuids updates, never duplicates.
        raise unavailable() from exc


def is_unanswered(exc: StoreUnavailableError) -> bool:
    """A 503 for a request that got no answer at all (botocore's retries timed out too): it may have been done."""
    return isinstance(exc.__cause__, BotocoreConnectionError | HTTPClientError)


def _cancellation_reasons(exc: ClientError) -> set[str] | None:
    """The reasons of a cancelled transaction; None for any other error."""
    if _error_code(exc) != "TransactionCanceledException":
        return None
    return {str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])}


def is_version_conflict(exc: ClientError) -> bool:
    """True when a transaction or conditional write lost a race and may simply be retried."""
    reasons = _cancellation_reasons(exc)
    if reasons is not None:
        # Only conflicts are retryable: any other reason (validation, size) is a real error.
        return reasons <= _CONFLICT_REASONS
    return _error_code(exc) in ("ConditionalCheckFailedException", "TransactionConflictException")


def is_throttled_transaction(exc: ClientError) -> bool:
    """A transaction cancelled (nothing written) because some of its items were throttled."""
    reasons = _cancellation_reasons(exc)
    if reasons is None or not reasons & _UNAVAILABLE_REASONS:
        return False
    return reasons <= _UNAVAILABLE_REASONS | _CONFLICT_REASONS


def is_retryable_write(exc: ClientError) -> bool:
    return is_version_conflict(exc) or is_throttled_transaction(exc)


def was_resent(exc: ClientError) -> bool:
    """botocore sent the request more than once (e.g. after a read timeout): an earlier copy may have been done."""
    return bool(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def attempts(budget_seconds: float) -> Iterator[int]:
    """Attempt numbers until the time budget is spent, sleeping between attempts.

    Exponential backoff with full jitter (10 ms doubling to 0.5 s) spreads concurrent writers of one session
    apart; always at least one attempt. (Past the invocation's deadline the client refuses to send: a 503.)
    """
    end = time.monotonic() + budget_seconds
    attempt = 0
    while True:
        yield attempt
        pause = random.uniform(0, min(0.5, 0.01 * 2**attempt))  # noqa: S311 - jitter, not cryptography
        if time.monotonic() + pause > end:
            return
        time.sleep(pause)
        attempt += 1
