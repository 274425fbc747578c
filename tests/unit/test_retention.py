"""Retention's pure rules (no AWS): session periods, expiry, receipts' expiry, and the stream records of TTL."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from chat_memory.adapters.dynamodb.stream import ExpiredSession, SessionTombstone, expired_session, tombstone
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.retention import (
    DeletionReason,
    check_session_retention,
    effective_retention_days,
    expiry,
    is_expired,
    receipt_expiry,
    session_retention_days,
)

DAY = 86_400


@pytest.mark.parametrize(
    "metadata",
    [None, {}, {"a": 1}, {"chat_memory": None}, {"chat_memory": {}}, {"chat_memory": {"retention_days": None}},
     {"chat_memory": {"retention_days": 0}}, {"chat_memory": {"retention_days": 36_500}},
     {"chat_memory": {"retention_days": 7, "other": "kept"}}],
)  # fmt: skip
def test_well_formed_session_periods_pass(metadata: dict[str, Any] | None) -> None:
    check_session_retention(metadata)


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ({"chat_memory": {"retention_days": -1}}, "retention_days must be an integer"),
        ({"chat_memory": {"retention_days": 36_501}}, "to 36500"),
        ({"chat_memory": {"retention_days": True}}, "got True"),
        ({"chat_memory": {"retention_days": 2.0}}, "got 2.0"),
        ({"chat_memory": {"retention_days": "2"}}, "got '2'"),
        ({"chat_memory": 3}, "metadata.chat_memory must be an object"),
        ({"chat_memory": [1]}, "must be an object (got list)"),
    ],
)
def test_malformed_session_periods_are_refused_with_what_is_wrong(metadata: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        check_session_retention(metadata)


def test_the_sessions_own_period_wins_and_a_stored_malformed_one_means_the_tenants() -> None:
    assert effective_retention_days({"chat_memory": {"retention_days": 3}}, 30) == 3
    assert effective_retention_days({"chat_memory": {"retention_days": 0}}, 30) == 0
    assert effective_retention_days({"chat_memory": {"retention_days": None}}, 30) == 30
    assert effective_retention_days({}, 30) == 30
    assert session_retention_days({"chat_memory": {"retention_days": "3"}}) is None  # written before the check
    assert session_retention_days({"chat_memory": "x"}) is None


def test_expiry_is_the_last_activity_plus_the_period_in_epoch_seconds() -> None:
    last = 1_767_225_600_123_456  # µs
    assert expiry(last, 0) is None
    assert expiry(last, 1) == 1_767_225_600 + DAY
    assert expiry(last, 36_500) == 1_767_225_600 + 36_500 * DAY
    expires = expiry(last, 1)
    assert expires is not None
    assert not is_expired(expires, expires * 1_000_000 - 1)
    assert is_expired(expires, expires * 1_000_000)
    assert not is_expired(None, 10**17)
    assert receipt_expiry(last) == 1_767_225_600 + 90 * DAY


def _remove(old_image: dict[str, Any], identity: dict[str, str] | None) -> DynamoDBRecord:
    record: dict[str, Any] = {
        "eventName": "REMOVE",
        "dynamodb": {"Keys": {"PK": old_image["PK"], "SK": old_image["SK"]}, "OldImage": old_image},
    }
    if identity is not None:
        record["userIdentity"] = identity
    return DynamoDBRecord(record)


TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
SESSION = {"PK": {"S": "T#acme#S#s 1"}, "SK": {"S": "SESSION"}, "last_ts": {"N": "99"}, "expires_at": {"N": "7"}}


def test_a_session_item_removed_by_ttl_names_what_to_purge() -> None:
    assert expired_session(_remove(SESSION, TTL)) == ExpiredSession("acme", "s 1", up_to_ts=99, expired_at=7)


def test_other_removals_are_not_expiries() -> None:
    message = {**SESSION, "SK": {"S": "MSG#0000000000000099"}}
    tomb = {**SESSION, "deleted": {"BOOL": True}}
    by_function = {"type": "Service", "principalId": "lambda.amazonaws.com"}
    cases = [_remove(SESSION, None), _remove(SESSION, by_function), _remove(message, TTL), _remove(tomb, TTL)]
    assert [expired_session(r) for r in cases] == [None, None, None, None]
    assert expired_session(DynamoDBRecord({"eventName": "MODIFY", "userIdentity": TTL, "dynamodb": {}})) is None


def test_a_tombstone_says_why_and_when_it_was_made() -> None:
    image = {
        "PK": {"S": "T#acme#S#s"},
        "deleted": {"BOOL": True},
        "version": {"N": "4"},
        "last_ts": {"N": "99"},
        "deleted_reason": {"S": "user_delete"},
        "deleted_ts": {"N": "12345"},
    }
    found = tombstone(DynamoDBRecord({"eventName": "MODIFY", "dynamodb": {"NewImage": image}}))
    assert found == SessionTombstone("acme", "s", 99, 4, DeletionReason.USER_DELETE, 12345)
    older = {k: v for k, v in image.items() if k not in ("deleted_reason", "deleted_ts")}
    record = {"eventName": "MODIFY", "dynamodb": {"NewImage": older, "ApproximateCreationDateTime": 1700000000}}
    assert tombstone(DynamoDBRecord(record)) == SessionTombstone(
        "acme", "s", 99, 4, DeletionReason.DELETE, 1_700_000_000_000_000
    )
