"""The purger: deletes in the background what a DELETE made unreadable at once.

Fed by the table's stream with session and user tombstones and the session items DynamoDB's TTL removed (the
event filter): a session past its retention period is purged as a deleted one is. Every finished session purge
leaves a deletion receipt. A session tombstone's
items up to its `last_ts` are deleted, then the tombstone (unless the session was recreated meanwhile); a user
tombstone sweeps the sessions of that incarnation of the user once more and is then deleted (unless the user was
created again meanwhile: the new incarnation has another uuid, and sessions of its own). Every step is idempotent,
so a retried or replayed record only finishes the job."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.adapters.dynamodb.stream import SessionTombstone, expired_session, tombstone
from chat_memory.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
def purge_record(record: DynamoDBRecord) -> None:
    expired = expired_session(record)
    if expired is not None:
        purger = wiring.purger()
        deleted = purger.purge_expired(expired.tenant, expired.session_id, expired.up_to_ts, expired.expired_at)
        metrics.add_metric(name="ItemsPurged", unit="Count", value=deleted)
        metrics.add_metric(name="SessionsExpired", unit="Count", value=1)
        logger.info("expired session purged", extra={"items": deleted})
        return
    found = tombstone(record)
    if isinstance(found, SessionTombstone):
        deleted = wiring.purger().purge_session(
            found.tenant, found.session_id, found.up_to_ts, found.version, found.reason, found.deleted_ts
        )
        metrics.add_metric(name="ItemsPurged", unit="Count", value=deleted)
        logger.info("session purged", extra={"items": deleted, "reason": found.reason.value})
    elif found is not None:
        buried = wiring.purger().purge_user(found.tenant, found.user_id, found.user_uuid, found.version)
        metrics.add_metric(name="UsersPurged", unit="Count", value=1)
        logger.info("user purged", extra={"sessions_swept": buried})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=purge_record, processor=processor, context=context)
