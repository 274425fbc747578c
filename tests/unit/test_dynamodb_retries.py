"""The DynamoDB client's retries: botocore's own handler is configured to one attempt (so it never retries) and
RetryWithinDeadline, with botocore's standard policy, is the one handler that answers `needs-retry`. Fails loudly
when botocore's handler starts answering (its config semantics changed) or ours stops."""

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from chat_memory import deadline
from chat_memory.adapters.dynamodb.client import ATTEMPT_SECONDS, MAX_ATTEMPTS, dynamodb_client


@pytest.fixture
def client() -> Iterator[Any]:
    dynamodb_client.cache_clear()
    yield dynamodb_client()
    dynamodb_client.cache_clear()


def _answers(client: Any, attempts: int, code: str = "ThrottlingException") -> list[Any]:
    """What every needs-retry handler answers to attempt `attempts` of a GetItem that failed with `code`."""
    http = AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, HTTPHeaders(), None)
    parsed = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    responses = client.meta.events.emit(
        "needs-retry.dynamodb.GetItem",
        response=(http, parsed),
        endpoint=None,
        operation=client.meta.service_model.operation_model("GetItem"),
        attempts=attempts,
        caught_exception=None,
        request_dict={"context": {}},
    )
    return [answer for _, answer in responses if answer is not None]


def test_only_our_handler_answers_and_it_retries_throttling_with_standard_backoff(client: Any) -> None:
    (pause,) = _answers(client, 1)
    assert isinstance(pause, float) and 0 <= pause <= 1.0  # rand(0, 1) * 1 s after throttling
    assert _answers(client, MAX_ATTEMPTS - 1) != []
    assert _answers(client, MAX_ATTEMPTS) == [], "no retry after MAX_ATTEMPTS attempts"


def test_a_retry_the_deadline_has_no_room_for_is_refused(client: Any) -> None:
    with deadline.within(ATTEMPT_SECONDS - 0.1):
        assert _answers(client, 1) == [False]  # False, not None: no handler may retry it


def test_a_request_error_is_not_retried(client: Any) -> None:
    assert _answers(client, 1, code="ValidationException") == []
