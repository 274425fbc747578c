"""The local stream driver's pure parts: Lambda's filter patterns, the DynamoDB Streams event, partial batch
responses, and what it reads from template.yaml. No AWS."""

from datetime import UTC, datetime
from typing import Any

import pytest

from chat_memory_dev.local.stream import (
    FilterPatternError,
    build_stream_event,
    first_failed_index,
    lambda_record,
    pattern_matches,
    record_passes_filters,
    streams_endpoint_url,
    validate_pattern,
)
from chat_memory_dev.template import deployed_by_default, function_environment, stream_consumers

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
PK = {"S": "T#default#S#octavia"}


def _record(event_name: str, sk: str, seq: str = "100", **images: dict[str, Any]) -> dict[str, Any]:
    """A record as Lambda delivers it."""
    keys = {"PK": PK, "SK": {"S": sk}}
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1767225600,
        "Keys": keys,
        "SequenceNumber": seq,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    for name, image in images.items():
        dynamodb[name] = {**keys, **image}
    return {
        "eventID": f"id-{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": STREAM_ARN,
    }


MESSAGE_SK = "MSG#0001767225600000000"
MESSAGE_INSERT = _record("INSERT", MESSAGE_SK, NewImage={"content": {"S": "hi"}})
SESSION_INSERT = _record("INSERT", "SESSION", NewImage={"version": {"N": "1"}})
SESSION_MODIFY = _record("MODIFY", "SESSION", NewImage={"version": {"N": "2"}}, OldImage={"version": {"N": "1"}})
MESSAGE_MODIFY = _record("MODIFY", MESSAGE_SK, NewImage={"content": {"S": "new"}}, OldImage={"content": {"S": "hi"}})
MESSAGE_REMOVE = _record("REMOVE", MESSAGE_SK, OldImage={"content": {"S": "hi"}})
SESSION_REMOVE = _record("REMOVE", "SESSION", OldImage={"version": {"N": "2"}})
SUMMARY_INSERT = _record("INSERT", "SUMMARY#0000000001", NewImage={"content": {"S": "summary"}})

# Tombstones: DELETE of a session's memory (or of a user) rewrites the item with deleted = true.
LIVE_SESSION: dict[str, Any] = {
    "session_id": {"S": "octavia"},
    "uuid": {"S": "00000000-0000-4000-8000-000000000001"},
    "created_ts": {"N": "1767225600000000"},
    "updated_ts": {"N": "1767225600000000"},
    "version": {"N": "3"},
    "last_ts": {"N": "1767225600000042"},
    "first_ts": {"N": "0"},
}
DELETED = {"deleted": {"BOOL": True}}
SESSION_TOMBSTONE = _record(
    "MODIFY", "SESSION", NewImage={**LIVE_SESSION, "version": {"N": "4"}, **DELETED}, OldImage=LIVE_SESSION
)
SESSION_MODIFY_NOT_DELETED = _record(
    "MODIFY", "SESSION", NewImage={**LIVE_SESSION, "version": {"N": "4"}}, OldImage=LIVE_SESSION
)
SESSION_MODIFY_DELETED_FALSE = _record(
    "MODIFY", "SESSION", NewImage={**LIVE_SESSION, "deleted": {"BOOL": False}}, OldImage=LIVE_SESSION
)
SESSION_MODIFY_DELETED_STRING = _record(  # "true" as a string is not the boolean the filter asks for
    "MODIFY", "SESSION", NewImage={**LIVE_SESSION, "deleted": {"S": "true"}}, OldImage=LIVE_SESSION
)
SESSION_TOMBSTONE_INSERT = _record("INSERT", "SESSION", NewImage={**LIVE_SESSION, **DELETED})
SESSION_TOMBSTONE_REMOVE = _record("REMOVE", "SESSION", OldImage={**LIVE_SESSION, **DELETED})  # the purge's end
USER_TOMBSTONE = _record(
    "MODIFY", "USER", NewImage={"version": {"N": "2"}, **DELETED}, OldImage={"version": {"N": "1"}}
)
USER_MODIFY = _record("MODIFY", "USER", NewImage={"version": {"N": "2"}}, OldImage={"version": {"N": "1"}})
MESSAGE_INSERT_DELETED = _record("INSERT", MESSAGE_SK, NewImage={"content": {"S": "hi"}, **DELETED})
MESSAGE_MODIFY_DELETED = _record("MODIFY", MESSAGE_SK, NewImage={"content": {"S": "hi"}, **DELETED}, OldImage={})
SUMMARY_MODIFY_DELETED = _record("MODIFY", "SESSION#SUMMARY", NewImage=DELETED, OldImage={})


def _summariser() -> Any:
    [consumer] = [c for c in stream_consumers() if c.function == "SummariserFunction"]
    return consumer


def _purger() -> Any:
    [consumer] = [c for c in stream_consumers() if c.function == "PurgerFunction"]
    return consumer


# --------------------------------------------------------------------------------------- the template's filter


def test_the_summariser_filter_lets_only_message_inserts_through() -> None:
    patterns = _summariser().filter_patterns
    assert record_passes_filters(patterns, MESSAGE_INSERT)
    for rejected in (SESSION_INSERT, SESSION_MODIFY, MESSAGE_MODIFY, MESSAGE_REMOVE, SESSION_REMOVE, SUMMARY_INSERT):
        assert not record_passes_filters(patterns, rejected), rejected["eventName"] + " " + str(rejected["dynamodb"])
    for tombstone in (SESSION_TOMBSTONE, SESSION_TOMBSTONE_INSERT, USER_TOMBSTONE):
        assert not record_passes_filters(patterns, tombstone)


def test_the_summariser_filter_is_what_the_matcher_implements() -> None:
    for pattern in _summariser().filter_patterns:
        validate_pattern(pattern)


@pytest.mark.parametrize(
    "record",
    [SESSION_TOMBSTONE, SESSION_TOMBSTONE_INSERT, USER_TOMBSTONE],
    ids=["session-modify-deleted", "session-insert-deleted", "user-modify-deleted"],
)
def test_the_purger_filter_lets_tombstones_through(record: dict[str, Any]) -> None:
    assert record_passes_filters(_purger().filter_patterns, record)


@pytest.mark.parametrize(
    "record",
    [
        SESSION_MODIFY_NOT_DELETED,
        SESSION_MODIFY_DELETED_FALSE,
        SESSION_MODIFY_DELETED_STRING,
        SESSION_TOMBSTONE_REMOVE,
        SESSION_INSERT,
        SESSION_MODIFY,
        SESSION_REMOVE,
        USER_MODIFY,
        MESSAGE_INSERT,
        MESSAGE_MODIFY,
        MESSAGE_REMOVE,
        MESSAGE_INSERT_DELETED,
        MESSAGE_MODIFY_DELETED,
        SUMMARY_INSERT,
        SUMMARY_MODIFY_DELETED,
    ],
    ids=[
        "session-modify-without-deleted",
        "session-modify-deleted-false",
        "session-modify-deleted-as-string",
        "session-tombstone-remove",
        "session-insert",
        "session-modify",
        "session-remove",
        "user-modify",
        "message-insert",
        "message-modify",
        "message-remove",
        "message-insert-deleted",
        "message-modify-deleted",
        "summary-insert",
        "summary-modify-deleted",
    ],
)
def test_the_purger_filter_rejects_everything_else(record: dict[str, Any]) -> None:
    assert not record_passes_filters(_purger().filter_patterns, record)


def test_the_purger_filter_is_what_the_matcher_implements() -> None:
    for pattern in _purger().filter_patterns:
        validate_pattern(pattern)


# ------------------------------------------------------------------------------------------------ the matcher


def test_no_filter_lets_everything_through_and_any_pattern_suffices() -> None:
    assert record_passes_filters([], SESSION_REMOVE)
    patterns = [{"eventName": ["REMOVE"]}, {"eventName": ["INSERT"]}]
    assert record_passes_filters(patterns, MESSAGE_INSERT)
    assert record_passes_filters(patterns, SESSION_REMOVE)
    assert not record_passes_filters(patterns, SESSION_MODIFY)


@pytest.mark.parametrize(
    ("pattern", "record", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x", "y"]}, {"a": "y"}, True),
        ({"a": ["x"]}, {"a": "X"}, False),
        ({"a": ["x"]}, {}, False),
        ({"a": ["x"]}, {"a": ["z", "x"]}, True),  # arrays in the record: any element
        ({"a": ["x"]}, {"a": []}, False),
        ({"a": [1]}, {"a": 1.0}, True),
        ({"a": [1]}, {"a": "1"}, False),  # types matter: DynamoDB's N values are strings
        ({"a": [True]}, {"a": 1}, False),
        ({"a": [None]}, {"a": None}, True),
        ({"a": {"b": ["x"]}}, {"a": {"b": "x", "c": 1}}, True),
        ({"a": {"b": ["x"]}}, {"a": "x"}, False),
        ({"a": {"b": ["x"]}}, {}, False),
        ({"a": [{"prefix": "MSG#"}]}, {"a": "MSG#1"}, True),
        ({"a": [{"prefix": "MSG#"}]}, {"a": "SESSION"}, False),
        ({"a": [{"prefix": "MSG#"}]}, {"a": 5}, False),
        ({"a": [{"suffix": ".json"}]}, {"a": "x.json"}, True),
        ({"a": [{"equals-ignore-case": "insert"}]}, {"a": "INSERT"}, True),
        ({"a": [{"anything-but": ["x", "y"]}]}, {"a": "z"}, True),
        ({"a": [{"anything-but": "x"}]}, {"a": "x"}, False),
        ({"a": [{"anything-but": {"prefix": "MSG#"}}]}, {"a": "SESSION"}, True),
        ({"a": [{"anything-but": {"prefix": "MSG#"}}]}, {"a": "MSG#1"}, False),
        ({"a": [{"anything-but": "x"}]}, {}, False),
        ({"a": [{"exists": True}]}, {"a": "x"}, True),
        ({"a": [{"exists": True}]}, {}, False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": {"b": [{"exists": False}]}}, {}, True),
        ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5}, True),
        ({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 6}, False),
        ({"a": [{"numeric": ["=", 3]}]}, {"a": "3"}, False),
    ],
)
def test_pattern_matches(pattern: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    validate_pattern(pattern)
    assert pattern_matches(pattern, record) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"a": "x"},
        {"a": []},
        {"a": [{"wildcard": "x*"}]},
        {"a": [{"prefix": 1}]},
        {"a": [{"prefix": "x", "suffix": "y"}]},
        {"a": [{"exists": "yes"}]},
        {"a": [{"numeric": ["~", 1]}]},
        {"a": [{"anything-but": {"suffix": "x"}}]},
        {"a": [["nested"]]},
    ],
)
def test_unsupported_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(FilterPatternError):
        validate_pattern(pattern)


# ------------------------------------------------------------------------------------------------- the event


def test_lambda_record_has_lambdas_shape() -> None:
    """What boto3 returns from GetRecords, as Lambda sends it: epoch seconds, base64 binaries, the stream ARN."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    boto3_record: dict[str, Any] = {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"PK": PK, "SK": {"S": MESSAGE_SK}},
            "NewImage": {
                "PK": PK,
                "SK": {"S": MESSAGE_SK},
                "n": {"N": "1.50"},
                "b": {"B": b"\x00\xff"},
                "bs": {"BS": [b"a"]},
                "m": {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}]}}},
            },
            "SequenceNumber": "4200",
            "SizeBytes": 120,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    record = lambda_record(boto3_record, STREAM_ARN)
    assert record["eventSourceARN"] == STREAM_ARN
    assert record["eventSource"] == "aws:dynamodb"
    dynamodb = record["dynamodb"]
    assert dynamodb["ApproximateCreationDateTime"] == int(created.timestamp())
    assert dynamodb["Keys"] == {"PK": PK, "SK": {"S": MESSAGE_SK}}
    assert dynamodb["NewImage"]["n"] == {"N": "1.50"}
    assert dynamodb["NewImage"]["b"] == {"B": "AP8="}
    assert dynamodb["NewImage"]["bs"] == {"BS": ["YQ=="]}
    assert dynamodb["NewImage"]["m"] == {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}]}}}
    assert dynamodb["SequenceNumber"] == "4200"
    assert boto3_record["dynamodb"]["ApproximateCreationDateTime"] is created  # the input is left alone
    assert build_stream_event([record]) == {"Records": [record]}
    assert "userIdentity" not in record


def test_a_ttl_deletions_identity_is_spelled_as_in_lambdas_events() -> None:
    """GetRecords says `{"PrincipalId", "Type"}`; Lambda's events (and so their filters) `{"principalId", "type"}`."""
    boto3_record = {
        "eventName": "REMOVE",
        "userIdentity": {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"},
        "dynamodb": {"Keys": {"PK": PK, "SK": {"S": "SESSION"}}, "SequenceNumber": "1"},
    }
    record = lambda_record(boto3_record, STREAM_ARN)
    assert record["userIdentity"] == {"principalId": "dynamodb.amazonaws.com", "type": "Service"}


def test_the_event_parses_as_a_powertools_dynamodb_stream_event() -> None:
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    event = DynamoDBStreamEvent(build_stream_event([MESSAGE_INSERT]))
    [record] = list(event.records)
    assert record.event_name is not None and record.event_name.name == "INSERT"
    assert record.dynamodb is not None
    assert record.dynamodb.keys == {"PK": PK["S"], "SK": MESSAGE_SK}
    assert record.dynamodb.sequence_number == "100"
    assert record.event_source_arn == STREAM_ARN


# ------------------------------------------------------------------------------------- partial batch responses


BATCH = [_record("INSERT", f"MSG#{i}", seq=str(100 + i)) for i in range(4)]


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "ok", 3])
def test_success(result: Any) -> None:
    assert first_failed_index(BATCH, result) is None


def test_retry_from_the_lowest_failed_sequence_number() -> None:
    failures = {"batchItemFailures": [{"itemIdentifier": "103"}, {"itemIdentifier": "101"}]}
    assert first_failed_index(BATCH, failures) == 1


@pytest.mark.parametrize(
    "failures",
    [
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{"item": "101"}],
        [{"itemIdentifier": "999"}],
        ["101"],
        "101",
    ],
)
def test_a_bad_identifier_fails_the_whole_batch(failures: Any) -> None:
    assert first_failed_index(BATCH, {"batchItemFailures": failures}) == 0


def test_without_report_batch_item_failures_the_result_is_ignored() -> None:
    failures = {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert first_failed_index(BATCH, failures, report_batch_item_failures=False) is None


# ---------------------------------------------------------------------------------------------- the template


def test_stream_consumers_read_the_template() -> None:
    consumer = _summariser()
    assert consumer.handler == "chat_memory.handlers.summariser.lambda_handler"
    assert consumer.table == "MemoryTable"
    assert consumer.batch_size == 100
    assert consumer.starting_position == "TRIM_HORIZON"
    assert consumer.maximum_retry_attempts == 3
    assert consumer.bisect_on_error is True
    assert consumer.report_batch_item_failures is True
    assert consumer.timeout_s == 120
    assert len(consumer.filter_patterns) == 1


def test_the_purger_is_a_stream_consumer_of_the_table() -> None:
    consumer = _purger()
    assert consumer.handler == "chat_memory.handlers.purger.lambda_handler"
    assert consumer.table == "MemoryTable"
    assert consumer.batch_size == 10
    assert consumer.starting_position == "TRIM_HORIZON"
    assert consumer.maximum_retry_attempts == 5
    assert consumer.bisect_on_error is True
    assert consumer.report_batch_item_failures is True
    assert consumer.timeout_s == 900
    assert len(consumer.filter_patterns) == 2  # tombstones, and session items deleted by TTL (retention)


def test_serve_drives_every_stream_consumer_of_the_table() -> None:
    """start_stream_pollers (what `chat-memory serve` calls) starts one poller per consumer of MemoryTable that a
    stack has with the parameters' defaults: not the embedder (semantic search needs EmbeddingModelId and Bedrock)."""
    consumers = sorted(c.function for c in stream_consumers() if c.table == "MemoryTable")
    assert consumers == ["EmbedderFunction", "IndexerFunction", "PurgerFunction", "SummariserFunction"]
    assert [c for c in consumers if deployed_by_default(c)] == [
        "IndexerFunction",
        "PurgerFunction",
        "SummariserFunction",
    ]


def test_function_environment_resolves_parameter_defaults() -> None:
    assert function_environment("SummariserFunction", region="eu-west-1") == {
        "SUMMARY_MODEL_ID": "",
        "SUMMARY_MODEL_REGION": "eu-west-1",  # SummaryModelRegion is empty: the stack's region
    }
    assert function_environment("HealthFunction") == {}
    assert function_environment("PurgerFunction") == {}  # the global environment only


def test_streams_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", raising=False)
    assert streams_endpoint_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert streams_endpoint_url("http://dynamodb-local:8000") == "http://dynamodb-local:8000"
    assert streams_endpoint_url("https://dynamodb.eu-west-1.amazonaws.com") is None
    assert streams_endpoint_url(None) is None
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://127.0.0.1:6000")
    assert streams_endpoint_url("http://127.0.0.1:5000") is None  # botocore reads the variable itself
