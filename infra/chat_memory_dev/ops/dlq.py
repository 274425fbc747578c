"""The dead-letter queues of the stream consumers: what sits there, and replaying it.

Lambda puts a *description* of a failed stream batch in a consumer's queue (function, shard, sequence numbers),
not the records. A redrive reads those records back from the table's stream (it keeps them 24 hours), applies the
event source mapping's own filter, invokes the function that failed with them in Lambda's event shape, and deletes
the queue message only when the function answered without a failure. The consumers are idempotent (a purge only
finishes a job, a summary is conditioned on the session's state), so a batch replayed twice does no harm.

A purger batch whose records the stream no longer holds can still be finished from the table: its tombstones stay
until purged, so `rescan_tombstones` hands the purger every tombstone it finds (a Scan: it reads the whole table).
A summariser batch whose records are gone needs nothing: a session's summary catches up at its next message.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chat_memory_dev.local.stream import build_stream_event, first_failed_index, lambda_record, record_passes_filters

QUEUE_OUTPUTS: Final = {  # template.yaml's Outputs naming each consumer's dead-letter queue
    "summariser": "SummariserDeadLetterQueueUrl",
    "purger": "PurgerDeadLetterQueueUrl",
    "embedder": "EmbedderDeadLetterQueueUrl",
    "indexer": "IndexerDeadLetterQueueUrl",
}
_GONE: Final = {"TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException"}
_EMPTY_POLLS: Final = 3  # an open shard can answer empty pages before the next records
VISIBILITY_S: Final = 900  # a message stays hidden while it is replayed (the longest function timeout is 300 s)

Invoker = Callable[[str, dict[str, Any]], Any]  # (function ARN, event) -> the function's answer


@dataclass(frozen=True, slots=True)
class FailedBatch:
    """One message of a dead-letter queue: the stream batch a function failed on, after every retry."""

    message_id: str
    receipt_handle: str
    function_arn: str
    condition: str  # RetryAttemptsExhausted, RecordAgeExceeded, ...
    failed_at: str
    first_record_at: str  # when the stream got the batch's first record: it keeps records 24 hours
    stream_arn: str
    shard_id: str
    start_sequence: str
    end_sequence: str
    batch_size: int


class NotAFailedBatchError(ValueError):
    """A queue message that is not Lambda's description of a failed DynamoDB stream batch."""


def failed_batch(message: Mapping[str, Any]) -> FailedBatch:
    """An SQS message (as ReceiveMessage returns it) read as Lambda's on-failure record of a stream batch."""
    try:
        body = json.loads(message["Body"])
        info, context = body["DDBStreamBatchInfo"], body["requestContext"]
        return FailedBatch(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            function_arn=str(context["functionArn"]),
            condition=str(context.get("condition", "")),
            failed_at=str(body.get("timestamp", "")),
            first_record_at=str(info.get("approximateArrivalOfFirstRecord", "")),
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start_sequence=str(info["startSequenceNumber"]),
            end_sequence=str(info["endSequenceNumber"]),
            batch_size=int(info.get("batchSize", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAFailedBatchError(f"message {message.get('MessageId')}: not a failed stream batch ({exc})") from exc


def receive_all(sqs: Any, queue_url: str, *, limit: int, visibility_s: int) -> Iterator[dict[str, Any]]:
    """Messages of a queue, each once, until the queue answers none or `limit` were received."""
    seen: set[str] = set()
    while len(seen) < limit:
        page = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            WaitTimeSeconds=1,  # a long poll asks every SQS server, so an empty answer means an empty queue
            VisibilityTimeout=visibility_s,
        ).get("Messages", [])
        fresh = [m for m in page if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def release(sqs: Any, queue_url: str, receipt_handles: Sequence[str]) -> None:
    """Make received messages visible again at once (a listing, or a replay that failed)."""
    entries = [{"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(receipt_handles)]
    for start in range(0, len(entries), 10):  # SQS's most per call
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])


def stream_records(streams: Any, batch: FailedBatch) -> list[dict[str, Any]] | None:
    """The batch's records from the stream, in order; None when the stream no longer holds them (24 h)."""
    from botocore.exceptions import ClientError

    start, end = int(batch.start_sequence), int(batch.end_sequence)
    records: list[dict[str, Any]] = []
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start_sequence,
        )["ShardIterator"]
        empty = 0
        while iterator and empty < _EMPTY_POLLS:
            page = streams.get_records(ShardIterator=iterator)
            iterator, got = page.get("NextShardIterator"), page.get("Records", [])
            empty = 0 if got else empty + 1
            for record in got:
                number = int(record["dynamodb"]["SequenceNumber"])
                if number > end:
                    return records
                if number >= start:
                    records.append(record)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _GONE:
            return None
        raise
    if not records or int(records[0]["dynamodb"]["SequenceNumber"]) != start:
        return None  # the shard was trimmed past the batch's first record
    return records


def mapping_filters(lambda_client: Any, function_arn: str, stream_arn: str) -> tuple[dict[str, Any], ...]:
    """The filter patterns of the function's event source mapping on that stream (none: every record)."""
    pages = lambda_client.get_paginator("list_event_source_mappings").paginate(
        FunctionName=function_arn, EventSourceArn=stream_arn
    )
    for page in pages:
        for mapping in page.get("EventSourceMappings", []):
            filters = (mapping.get("FilterCriteria") or {}).get("Filters") or []
            return tuple(json.loads(f["Pattern"]) for f in filters)
    return ()


def lambda_invoker(lambda_client: Any) -> Invoker:
    """Invoke a function synchronously; a function error is raised, its answer returned."""

    def invoke(function_arn: str, event: dict[str, Any]) -> Any:
        answer = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            raise RuntimeError(f"{function_arn} failed: {payload[:500].decode(errors='replace')}")
        return json.loads(payload) if payload else None

    return invoke


def replay(
    batch: FailedBatch, records: Sequence[Mapping[str, Any]], patterns: Sequence[Mapping[str, Any]], invoke: Invoker
) -> int:
    """Invoke the batch's function with its records that pass its filter; how many were replayed.

    Raises when the function fails or reports a failed record (the queue message is then kept).
    """
    shaped = [lambda_record(r, batch.stream_arn) for r in records]
    passing = [r for r in shaped if not patterns or record_passes_filters(patterns, r)]
    if passing:
        result = invoke(batch.function_arn, build_stream_event(passing))
        if first_failed_index(passing, result) is not None:
            raise RuntimeError(f"{batch.function_arn} reported failed records: {json.dumps(result)[:500]}")
    return len(passing)


def tombstone_records(dynamodb: Any, table: str, stream_arn: str) -> Iterator[dict[str, Any]]:
    """Every tombstone of the table as the stream's MODIFY record of it (a Scan of the whole table)."""
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression="deleted = :yes", ExpressionAttributeValues={":yes": {"BOOL": True}}
    )
    numbers = itertools.count(1)
    for page in pages:
        for item in page.get("Items", []):
            n = next(numbers)
            yield {
                "eventID": f"rescan-{n}",
                "eventName": "MODIFY",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": {"PK": item["PK"], "SK": item["SK"]},
                    "NewImage": item,
                    "SequenceNumber": f"{n:021d}",
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": stream_arn,
            }
