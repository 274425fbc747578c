"""The embedder (semantic search, only when an embedding model is configured): fed by the table's stream (message
writes without an embedding, by the event filter), it keeps each message's embedding with it. Failures are
reported per record (partial batch response): the stream retries from the failed record, then the dead-letter
queue."""

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.adapters.dynamodb.stream import message_written
from chat_memory.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
def embed_record(record: DynamoDBRecord) -> None:
    written = message_written(record)
    if written is None:
        return
    if wiring.embed_message()(written):
        metrics.add_metric(name="MessagesEmbedded", unit="Count", value=1)
        if written.written_at:  # how long after its write a message became findable by meaning
            metrics.add_metric(name="EmbeddingLag", unit="Seconds", value=max(0.0, time.time() - written.written_at))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=embed_record, processor=processor, context=context)
