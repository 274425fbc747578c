"""The indexer: fed by the table's stream (message inserts and changes, by the event filter), it keeps each touched
session's search index up to date: seals blocks of new messages and rebuilds the blocks of messages whose words
changed. Each session is brought up to date once per batch, with all of its changes in the batch; failures are
reported per record (partial batch response) so the stream retries from the failed session's records; bounded
retries end in the dead-letter queue (a search then reads the messages the index does not cover)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.adapters.dynamodb.stream import session_of, words_changed, written_at_micros
from chat_memory.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)

Session = tuple[str, str]


class SessionFailedEarlierError(RuntimeError):
    """Another record of this session failed in this batch: fail fast, the stream retries them together."""


def changes_by_session(records: list[DynamoDBRecord]) -> dict[Session, tuple[list[int], int]]:
    """Each session's messages whose words changed in the batch, and when the newest change was written."""
    out: dict[Session, tuple[list[int], int]] = {}
    for record in records:
        session = session_of(record)
        if session is None:
            continue
        changed, seen = out.setdefault(session, ([], 0))
        ts = words_changed(record)
        if ts is not None:
            changed.append(ts)
            seen = max(seen, written_at_micros(record))
        out[session] = (changed, seen)
    return out


@tracer.capture_method(capture_response=False)
def index_record(
    record: DynamoDBRecord, batch: dict[Session, tuple[list[int], int]], done: dict[Session, bool]
) -> None:
    session = session_of(record)
    if session is None:
        return
    if session in done:
        if done[session]:
            return
        raise SessionFailedEarlierError("indexing this session failed earlier in the batch")
    done[session] = False
    changed, seen = batch.get(session, ([], 0))
    report = wiring.index_session()(*session, changed, seen)
    done[session] = True
    if report.sealed or report.rebuilt:
        metrics.add_metric(name="IndexBlocksSealed", unit="Count", value=report.sealed)
        metrics.add_metric(name="IndexBlocksRebuilt", unit="Count", value=report.rebuilt)
        metrics.add_metric(name="MessagesIndexed", unit="Count", value=report.messages)
        logger.info("session indexed", extra={"sealed": report.sealed, "rebuilt": report.rebuilt})
    if report.too_large:
        logger.warning("an index item would pass 400 KB: the rest of this session is searched unindexed")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    batch = changes_by_session([DynamoDBRecord(r) for r in event.get("Records", [])])
    done: dict[Session, bool] = {}

    def handle(record: DynamoDBRecord) -> None:
        index_record(record, batch, done)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
