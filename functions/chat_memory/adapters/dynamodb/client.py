"""The DynamoDB client: created on first use (so moto can start first) and cached for warm invocations.

Retries are botocore's "standard" ones (exponential backoff with full jitter, a retry quota), bounded by the
invocation's deadline (chat_memory.deadline): no attempt starts unless it can time out before the deadline, and
no retry is made whose pause and attempt would not fit. So a throttled request answers 503 while it still can.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.retries import quota, standard

from chat_memory import deadline
from chat_memory.adapters.dynamodb.consumed import ask_for_capacity, record_capacity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB answers in milliseconds: these only bound a hung connection. One attempt takes at most their sum.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
# Attempts per call (the first and 4 retries); pauses of rand(0, 1) * min(scale * 2**n, 20 s) before retry n+1,
# scale 1 s after throttling and 25 ms after other transient errors (botocore's standard backoff for DynamoDB).
MAX_ATTEMPTS = 5
_SERVICE = "dynamodb"

# One attempt per call for botocore's own retry handler, which therefore never retries: RetryWithinDeadline does,
# with the same standard policy and MAX_ATTEMPTS. (So no private name of botocore's handler is needed to replace it.
# Side effects of that idle handler: every response's ResponseMetadata says MaxAttemptsReached, and the
# amz-sdk-request header says max=1; nothing here reads either.)
_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    tcp_keepalive=True,
)


def refuse_late_attempt(**_: Any) -> None:
    """botocore `before-send` hook (every attempt, retries included): an attempt that could outlast the deadline
    is not started."""
    if not deadline.allows(ATTEMPT_SECONDS):
        raise deadline.DeadlineExceeded("no time left for another DynamoDB request")


class RetryWithinDeadline:
    """botocore's standard retry handler for `needs-retry`, minus the retries the deadline has no room for: the
    caller then gets the last error (a throttled request: 503) instead of a function cut off by its timeout."""

    def __init__(self, client: DynamoDBClient) -> None:
        adapter = standard.RetryEventAdapter()
        throttling = standard.ThrottlingErrorDetector(adapter)
        retry_quota = standard.RetryQuotaChecker(quota.RetryQuota(), throttling)
        self._standard = standard.RetryHandler(
            retry_policy=standard.RetryPolicy(
                retry_checker=standard.StandardRetryConditions(max_attempts=MAX_ATTEMPTS),
                retry_backoff=standard.ExponentialBackoff(service_name=_SERVICE, throttling_detector=throttling),
            ),
            retry_event_adapter=adapter,
            retry_quota=retry_quota,  # type: ignore[arg-type]  # the stubs say RetryQuota; botocore passes this
            service_name=_SERVICE,
        )
        events = client.meta.events
        # After botocore's own handler, which answers None (no retry) to every attempt: the first answer that is not
        # None, this one's, decides.
        # (The stubs type handlers as returning None; needs-retry handlers return the pause.)
        retry = self.needs_retry
        events.register(f"needs-retry.{_SERVICE}", retry, unique_id="retry-within-deadline")  # type: ignore[arg-type]
        events.register(f"after-call.{_SERVICE}", retry_quota.release_retry_quota)

    def needs_retry(self, **kwargs: Any) -> float | bool | None:
        """The pause before the next attempt; None or False: no retry."""
        delay: float | bool | None = self._standard.needs_retry(**kwargs)
        if delay is None or delay is False:
            return delay
        if not deadline.allows(float(delay) + ATTEMPT_SECONDS):
            return False  # False, not None: no other handler may retry it either
        return delay


@cache
def dynamodb_client() -> DynamoDBClient:
    # AWS_ENDPOINT_URL_DYNAMODB, when set, is honoured by botocore itself.
    client = boto3.client("dynamodb", config=_CONFIG)
    RetryWithinDeadline(client)
    client.meta.events.register(f"before-send.{_SERVICE}", refuse_late_attempt)
    client.meta.events.register(f"provide-client-params.{_SERVICE}.*", ask_for_capacity)
    client.meta.events.register(f"after-call.{_SERVICE}.*", record_capacity)
    return client
