"""`chat-memory dlq` without AWS: Lambda's on-failure record, the stack's queues, and the Invoke call."""

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chat_memory_dev.cli import build_parser
from chat_memory_dev.cli_aws import CliError
from chat_memory_dev.ops.dlq import NotAFailedBatchError, failed_batch, lambda_invoker
from chat_memory_dev.ops.dlq_command import queue_urls
from chat_memory_dev.template import load_template

BODY = {
    "requestContext": {"functionArn": "arn:aws:lambda:eu-west-1:1:function:f", "condition": "RecordAgeExceeded"},
    "timestamp": "2026-12-04T10:13:49.717Z",
    "DDBStreamBatchInfo": {
        "shardId": "shardId-1",
        "startSequenceNumber": "800000000003126276362",
        "endSequenceNumber": "800000000003126276370",
        "approximateArrivalOfFirstRecord": "2026-12-04T10:13:19Z",
        "batchSize": 4,
        "streamArn": "arn:aws:dynamodb:eu-west-1:1:table/t/stream/2026",
    },
}


def test_lambdas_on_failure_record_is_read_as_a_failed_batch() -> None:
    batch = failed_batch({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(BODY)})
    assert (batch.function_arn, batch.condition, batch.shard_id) == (
        "arn:aws:lambda:eu-west-1:1:function:f",
        "RecordAgeExceeded",
        "shardId-1",
    )
    assert (batch.start_sequence, batch.end_sequence, batch.batch_size) == (
        "800000000003126276362",
        "800000000003126276370",
        4,
    )


@pytest.mark.parametrize("body", ["not json", "{}", json.dumps({"DDBStreamBatchInfo": {}, "requestContext": {}})])
def test_any_other_message_is_not_a_failed_batch(body: str) -> None:
    with pytest.raises(NotAFailedBatchError, match="not a failed stream batch"):
        failed_batch({"MessageId": "m", "ReceiptHandle": "r", "Body": body})


class _Stacks:
    def __init__(self, outputs: list[dict[str, str]]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        return {"Stacks": [{"StackName": StackName, "Outputs": self.outputs}]}


def test_the_queues_are_the_stacks_dead_letter_queue_outputs() -> None:
    outputs = load_template()["Outputs"]
    for key in ("SummariserDeadLetterQueueUrl", "PurgerDeadLetterQueueUrl", "EmbedderDeadLetterQueueUrl"):
        assert key in outputs, f"template.yaml's {key} is what `chat-memory dlq` finds the queue by"
    stack = _Stacks([{"OutputKey": "PurgerDeadLetterQueueUrl", "OutputValue": "https://q/p"}])
    assert queue_urls("s", stack) == {"purger": "https://q/p"}
    with pytest.raises(CliError, match="no dead-letter queue outputs"):
        queue_urls("s", _Stacks([]))


def _payload(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_invoke_returns_the_functions_answer_and_raises_on_a_function_error() -> None:
    client = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    event = {"Records": [{"eventID": "1"}]}
    with Stubber(client) as stub:
        expected = {"FunctionName": "f", "Payload": json.dumps(event).encode()}
        stub.add_response("invoke", {"StatusCode": 200, "Payload": _payload(b'{"batchItemFailures": []}')}, expected)
        assert lambda_invoker(client)("f", event) == {"batchItemFailures": []}
        failed = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _payload(b'{"errorMessage": "boom"}')}
        stub.add_response("invoke", failed, expected)
        with pytest.raises(RuntimeError, match="boom"):
            lambda_invoker(client)("f", event)


def test_the_cli_offers_list_and_redrive_of_the_stacks_queues() -> None:
    args = build_parser().parse_args(["dlq", "redrive", "--stack", "s", "--queue", "purger", "--rescan-tombstones"])
    assert (args.stack, args.queue, args.rescan_tombstones, args.dry_run) == ("s", ["purger"], True, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dlq", "redrive", "--stack", "s", "--queue", "nope"])
