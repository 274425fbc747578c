"""The summariser: fed by the table's stream (message inserts only, by the event filter), it keeps each touched
session's running summary up to date. Failures are reported per record (partial batch response) so the stream
retries from the failed session's records only; bounded retries end in the dead-letter queue."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.adapters.dynamodb.stream import session_of
from chat_memory.observability import logger, metrics, tracer

# Report every failed record instead of raising when all failed: the stream retries them the same way.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


class SessionFailedEarlierError(RuntimeError):
    """Another record of this session failed in this batch: fail fast, the stream retries them together."""


@tracer.capture_method(capture_response=False)
def summarise_record(record: DynamoDBRecord, seen: dict[tuple[str, str], bool]) -> None:
    """Bring the record's session up to date, once per invocation (a batch holds many records per session).

    `seen` maps each session met in this batch to whether its summarising succeeded.
    """
    session = session_of(record)
    if session is None:
        return
    if session in seen:
        if seen[session]:
            return
        raise SessionFailedEarlierError("summarising this session failed earlier in the batch")
    seen[session] = False
    report = wiring.summarise_session()(*session)
    seen[session] = True
    if report.summaries_written:
        metrics.add_metric(name="SummariesWritten", unit="Count", value=report.summaries_written)
        metrics.add_metric(name="MessagesSummarised", unit="Count", value=report.messages_folded)
        metrics.add_metric(name="ModelInputTokens", unit="Count", value=report.model_input_tokens)
        metrics.add_metric(name="ModelOutputTokens", unit="Count", value=report.model_output_tokens)
        metrics.add_metric(name="SummaryLag", unit="Seconds", value=max(report.lag_seconds))
        logger.info(
            "session summarised",
            extra={"summaries": report.summaries_written, "messages": report.messages_folded},
        )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    seen: dict[tuple[str, str], bool] = {}

    def handle(record: DynamoDBRecord) -> None:
        summarise_record(record, seen)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
