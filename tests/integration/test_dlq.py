"""`chat-memory dlq`: failed stream batches in a moto SQS queue are read back from moto's DynamoDB stream, filtered
by the event source mapping's own patterns and replayed into the real purger, idempotently."""

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chat_memory_dev.local.runtime import FakeLambdaContext
from chat_memory_dev.ops.dlq_command import Clients, list_queue, redrive_queue
from chat_memory_dev.template import stream_consumers
from tests.integration.conftest import TABLE, Invoke, all_items

_STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"
PURGER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:chat-memory-PurgerFunction-abc"


@dataclass
class FakeLambda:
    """Lambda's ListEventSourceMappings for the purger: the template's filter (moto would invoke through Docker)."""

    asked: list[dict[str, Any]] = field(default_factory=list)

    def get_paginator(self, operation: str) -> "FakeLambda":
        assert operation == "list_event_source_mappings"
        return self

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.asked.append(kwargs)
        (purger,) = [c for c in stream_consumers() if c.function == "PurgerFunction"]
        filters = [{"Pattern": json.dumps(p)} for p in purger.filter_patterns]
        yield {"EventSourceMappings": [{"FilterCriteria": {"Filters": filters}}]}


@dataclass
class Purger:
    """Invokes the real purger handler in-process; `answer` overrides its result (a failing function)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    answer: Any = None

    def __call__(self, function_arn: str, event: dict[str, Any]) -> Any:
        from chat_memory.handlers import purger

        assert function_arn == PURGER_ARN
        self.events.append(event)
        if self.answer is not None:
            return self.answer
        return purger.lambda_handler(event, FakeLambdaContext("PurgerFunction", "redrive", 900_000))


@dataclass
class Setup:
    clients: Clients
    queue: str
    stream_arn: str
    shard_id: str
    purger: Purger
    lambda_: FakeLambda


@pytest.fixture
def setup(ddb: Any) -> Setup:
    stream_arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    # botocore sends a stream ARN's calls to an account endpoint (123456789012.streams-ddb...) moto does not serve.
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=_STREAMS_ENDPOINT)
    shard_id = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="PurgerDeadLetterQueue")["QueueUrl"]
    purger, lambda_ = Purger(), FakeLambda()
    return Setup(Clients(sqs, streams, lambda_, ddb, purger), queue, stream_arn, shard_id, purger, lambda_)


def _stream_sequence_numbers(setup: Setup) -> list[str]:
    streams = setup.clients.streams
    iterator = streams.get_shard_iterator(
        StreamArn=setup.stream_arn, ShardId=setup.shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [r["dynamodb"]["SequenceNumber"] for r in streams.get_records(ShardIterator=iterator)["Records"]]


def _fail_batch(setup: Setup, start: str, end: str, batch_size: int) -> None:
    """What Lambda sends the queue when a batch fails after every retry (AWS's documented on-failure record)."""
    body = {
        "requestContext": {
            "requestId": "316aa6d0-8154-4c3e-9af7-85d5f4a6bc81",
            "functionArn": PURGER_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 6,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-12-04T10:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": setup.shard_id,
            "startSequenceNumber": start,
            "endSequenceNumber": end,
            "approximateArrivalOfFirstRecord": "2026-12-04T10:13:19Z",
            "approximateArrivalOfLastRecord": "2026-12-04T10:13:19Z",
            "batchSize": batch_size,
            "streamArn": setup.stream_arn,
        },
    }
    setup.clients.sqs.send_message(QueueUrl=setup.queue, MessageBody=json.dumps(body))


def _deleted_session(api: Invoke, setup: Setup, session: str = "octavia") -> list[str]:
    """A session of 3 messages, then DELETEd: the stream's records of it, oldest first (inserts, tombstone)."""
    before = len(_stream_sequence_numbers(setup))
    messages = [{"role_type": "user", "content": f"line {n}"} for n in range(3)]
    assert api("POST", f"/api/v2/sessions/{session}/memory", {"messages": messages}).status == 201
    assert api("DELETE", f"/api/v2/sessions/{session}/memory").status == 200
    return _stream_sequence_numbers(setup)[before:]


def _session_items(ddb: Any, session: str = "octavia") -> list[dict[str, Any]]:
    return [i for i in all_items(ddb) if i["PK"]["S"] == f"T#default#S#{session}"]


def _queued(setup: Setup) -> int:
    attributes = setup.clients.sqs.get_queue_attributes(
        QueueUrl=setup.queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_a_failed_purge_is_replayed_from_the_stream_through_the_mappings_filter(
    api: Invoke, ddb: Any, setup: Setup
) -> None:
    records = _deleted_session(api, setup)
    _fail_batch(setup, records[0], records[-1], len(records))
    assert _session_items(ddb), "the tombstone and its messages wait for the purger"

    outcome = redrive_queue("purger", setup.queue, setup.clients, limit=10)

    (event,) = setup.purger.events
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in event["Records"]] == ["SESSION"], "the filter: tombstones only"
    assert event["Records"][0]["eventSourceARN"] == setup.stream_arn
    assert setup.lambda_.asked == [{"FunctionName": PURGER_ARN, "EventSourceArn": setup.stream_arn}]
    assert [count for _, count in outcome.replayed] == [1] and outcome.kept == []
    assert _session_items(ddb) == [], "purged: messages, then the tombstone"
    assert _queued(setup) == 0


def test_a_batch_replayed_twice_does_no_harm(api: Invoke, ddb: Any, setup: Setup) -> None:
    records = _deleted_session(api, setup)
    _fail_batch(setup, records[0], records[-1], len(records))
    _fail_batch(setup, records[0], records[-1], len(records))
    assert api("POST", "/api/v2/sessions/octavia/memory", {"messages": [{"role_type": "user", "content": "new"}]})

    outcome = redrive_queue("purger", setup.queue, setup.clients, limit=10)

    assert len(outcome.replayed) == 2 and outcome.kept == []
    memory = api("GET", "/api/v2/sessions/octavia/memory")
    assert memory.status == 200, "the session recreated after the DELETE survives both replays"
    assert [m["content"] for m in memory.body["messages"]] == ["new"]


def test_a_batch_whose_replay_fails_stays_in_the_queue(api: Invoke, ddb: Any, setup: Setup) -> None:
    records = _deleted_session(api, setup)
    _fail_batch(setup, records[0], records[-1], len(records))
    setup.purger.answer = {"batchItemFailures": [{"itemIdentifier": records[-1]}]}

    outcome = redrive_queue("purger", setup.queue, setup.clients, limit=10)

    assert outcome.replayed == [] and "reported failed records" in outcome.kept[0][1]
    assert _queued(setup) == 1, "visible again at once, for the next redrive"


def test_a_dry_run_invokes_nothing_and_keeps_the_batch(api: Invoke, ddb: Any, setup: Setup) -> None:
    records = _deleted_session(api, setup)
    _fail_batch(setup, records[0], records[-1], len(records))

    outcome = redrive_queue("purger", setup.queue, setup.clients, limit=10, dry_run=True)

    assert setup.purger.events == [] and _session_items(ddb)
    assert outcome.kept[0][1] == f"dry run: {len(records)} records in the stream"
    assert _queued(setup) == 1


def test_only_the_batchs_sequence_range_is_replayed(api: Invoke, ddb: Any, setup: Setup) -> None:
    first = _deleted_session(api, setup, "first")
    _deleted_session(api, setup, "second")
    _fail_batch(setup, first[0], first[-1], len(first))

    redrive_queue("purger", setup.queue, setup.clients, limit=10)

    assert _session_items(ddb, "first") == []
    assert _session_items(ddb, "second"), "another batch's tombstone is not this batch's to replay"


def test_records_past_the_stream_stay_queued_unless_tombstones_are_rescanned(
    api: Invoke, ddb: Any, setup: Setup
) -> None:
    records = _deleted_session(api, setup)
    _fail_batch(setup, records[0], records[-1], len(records))
    trimmed = Stubber(setup.clients.streams)
    trimmed.add_client_error("get_shard_iterator", service_error_code="TrimmedDataAccessException")
    trimmed.add_client_error("get_shard_iterator", service_error_code="TrimmedDataAccessException")

    with trimmed:
        kept = redrive_queue("purger", setup.queue, setup.clients, limit=10)
        assert "--rescan-tombstones" in kept.kept[0][1] and setup.purger.events == []
        assert _queued(setup) == 1
        rescued = redrive_queue("purger", setup.queue, setup.clients, limit=10, table=TABLE)

    assert rescued.rescanned_tombstones == 1 and len(rescued.replayed) == 1
    assert _session_items(ddb) == [] and _queued(setup) == 0


def test_listing_shows_each_failed_batch_and_keeps_it(api: Invoke, setup: Setup) -> None:
    records = _deleted_session(api, setup)
    _fail_batch(setup, records[0], records[-1], len(records))
    setup.clients.sqs.send_message(QueueUrl=setup.queue, MessageBody="not Lambda's")
    out = io.StringIO()

    assert list_queue(setup.clients.sqs, setup.queue, out, limit=10) == 2

    listing = out.getvalue()
    assert f"chat-memory-PurgerFunction-abc  {len(records)} records {records[0]}..{records[-1]}" in listing
    assert "RetryAttemptsExhausted" in listing and "not a failed stream batch" in listing
    assert _queued(setup) == 2
