"""The local stream driver against the embedded moto DynamoDB (and its DynamoDB Streams): the records the
summariser's event source would deliver, in Lambda's event shape, with partial-batch retries that end."""

import dataclasses
import io
import json
import os
import sys
import threading
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chat_memory_dev.local.runtime import HandlerCache
from chat_memory_dev.local.stream import StreamPoller, start_stream_pollers
from chat_memory_dev.local.workers import WorkerPool
from chat_memory_dev.localdb.dynamodb import EmbeddedDynamoDB, LocalDynamoDB, create_table_from_template
from chat_memory_dev.template import StreamConsumer, stream_consumers

PK = "T#default#S#octavia"


@dataclasses.dataclass
class Clients:
    endpoint: str
    table: str
    dynamodb: Any
    streams: Any


@pytest.fixture
def clients() -> Iterator[Clients]:
    # moto's backends are global to the process: a table of its own for each test.
    table = f"chat-memory-stream-{uuid.uuid4().hex[:12]}"
    with EmbeddedDynamoDB() as db:
        dynamodb = boto3.client("dynamodb", endpoint_url=db.endpoint_url, region_name="us-east-1")
        streams = boto3.client("dynamodbstreams", endpoint_url=db.endpoint_url, region_name="us-east-1")
        create_table_from_template(dynamodb, table)
        try:
            yield Clients(db.endpoint_url, table, dynamodb, streams)
        finally:
            dynamodb.delete_table(TableName=table)


def _summariser(**changes: Any) -> StreamConsumer:
    [consumer] = [c for c in stream_consumers() if c.function == "SummariserFunction"]
    return dataclasses.replace(consumer, **changes)


class Recorder:
    """A stand-in handler: records each event; `fail(event)` says which sequence numbers to report as failed."""

    def __init__(self, fail: Any = None, raise_when: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.fail = fail
        self.raise_when = raise_when

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.contexts.append(context)
        if self.raise_when is not None and self.raise_when(event):
            raise RuntimeError("handler failed")
        failed = self.fail(event) if self.fail is not None else []
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}

    def sequence_batches(self) -> list[list[str]]:
        return [[r["dynamodb"]["SequenceNumber"] for r in e["Records"]] for e in self.events]


def _poller(clients: Clients, handler: Any, consumer: StreamConsumer | None = None, **kwargs: Any) -> StreamPoller:
    return StreamPoller(
        consumer or _summariser(),
        clients.table,
        dynamodb=clients.dynamodb,
        streams=clients.streams,
        handler=handler,
        retry_delay=0,
        log=io.StringIO(),
        **kwargs,
    )


def _put_message(clients: Clients, ts: int, content: str = "hello") -> None:
    clients.dynamodb.put_item(
        TableName=clients.table,
        Item={
            "PK": {"S": PK},
            "SK": {"S": f"MSG#{ts:016d}"},
            "MsgUuid": {"S": f"uuid-{ts}"},
            "content": {"S": content},
            "token_count": {"N": "3"},
        },
    )


def _put_session(clients: Clients, version: int) -> None:
    clients.dynamodb.put_item(
        TableName=clients.table, Item={"PK": {"S": PK}, "SK": {"S": "SESSION"}, "version": {"N": str(version)}}
    )


def test_only_message_inserts_arrive_in_lambdas_event_shape(clients: Clients) -> None:
    handler = Recorder()
    poller = _poller(clients, handler)
    _put_session(clients, 1)  # INSERT of a session item
    _put_message(clients, 1)  # INSERT of a message
    _put_session(clients, 2)  # MODIFY
    _put_message(clients, 1, "edited")  # MODIFY of a message
    clients.dynamodb.delete_item(TableName=clients.table, Key={"PK": {"S": PK}, "SK": {"S": f"MSG#{1:016d}"}})  # REMOVE

    assert poller.poll_once() == 5  # five stream records read ...
    assert len(handler.events) == 1  # ... one delivered
    [record] = handler.events[0]["Records"]
    stream_arn = clients.dynamodb.describe_table(TableName=clients.table)["Table"]["LatestStreamArn"]
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == stream_arn
    assert isinstance(record["eventID"], str)
    dynamodb = record["dynamodb"]
    assert dynamodb["Keys"] == {"PK": {"S": PK}, "SK": {"S": f"MSG#{1:016d}"}}
    assert dynamodb["NewImage"]["content"] == {"S": "hello"}
    assert dynamodb["NewImage"]["token_count"] == {"N": "3"}
    assert "OldImage" not in dynamodb
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(dynamodb["SequenceNumber"], str)
    assert isinstance(dynamodb["SizeBytes"], int)
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
    assert abs(dynamodb["ApproximateCreationDateTime"] - time.time()) < 300

    context = handler.contexts[0]
    assert context.function_name == "SummariserFunction"
    assert 0 < context.get_remaining_time_in_millis() <= 120_000

    assert poller.poll_once() == 0  # nothing new: nothing delivered again
    assert len(handler.events) == 1
    _put_message(clients, 2)
    poller.poll_once()
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in handler.events[1]["Records"]] == [f"MSG#{2:016d}"]


def test_batches_keep_order_and_the_batch_size(clients: Clients) -> None:
    handler = Recorder()
    poller = _poller(clients, handler, _summariser(batch_size=2))
    for ts in range(1, 6):
        _put_message(clients, ts)
    poller.poll_once()
    batches = handler.sequence_batches()
    assert [len(b) for b in batches] == [2, 2, 1]
    flat = [seq for batch in batches for seq in batch]
    assert flat == sorted(flat, key=int)
    assert poller.records_delivered == 5


def test_a_reported_failure_is_retried_from_that_record_then_skipped(clients: Clients) -> None:
    for ts in range(1, 4):
        _put_message(clients, ts)
    poison = f"MSG#{2:016d}"

    def fail_poison(event: dict[str, Any]) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in event["Records"] if r["dynamodb"]["Keys"]["SK"]["S"] == poison]

    handler = Recorder(fail=fail_poison)
    poller = _poller(clients, handler)
    poller.poll_once()
    batches = handler.sequence_batches()
    first = batches[0]
    assert len(first) == 3
    # Retried from the failed record (the one before it is checkpointed), MaximumRetryAttempts (3) times.
    assert batches[1:] == [first[1:]] * 3
    # Then given up on, with the records after it (as on AWS: the OnFailure destination describes them).
    assert (poller.records_delivered, poller.records_skipped) == (1, 2)
    poller.poll_once()
    assert len(handler.events) == 4  # moved on: never delivered again


def test_a_record_that_always_fails_is_given_up_after_the_retries(clients: Clients) -> None:
    _put_message(clients, 1)
    _put_message(clients, 2)
    broken = {f"MSG#{1:016d}", f"MSG#{2:016d}"}

    def fail_broken(event: dict[str, Any]) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in event["Records"] if r["dynamodb"]["Keys"]["SK"]["S"] in broken]

    handler = Recorder(fail=fail_broken)
    poller = _poller(clients, handler)
    poller.poll_once()
    batches = handler.sequence_batches()
    assert len(batches) == 1 + 3  # the first attempt and MaximumRetryAttempts retries
    assert all(batch == batches[0] for batch in batches)
    assert poller.records_skipped == 2
    assert poller.records_delivered == 0
    _put_message(clients, 3)
    poller.poll_once()  # the stream goes on after the skipped records
    assert len(handler.events[-1]["Records"]) == 1
    assert poller.records_delivered == 1


def test_a_failure_that_clears_is_delivered_again(clients: Clients) -> None:
    _put_message(clients, 1)
    _put_message(clients, 2)
    attempts: list[int] = []

    def fail_once(event: dict[str, Any]) -> list[str]:
        attempts.append(len(event["Records"]))
        return [event["Records"][-1]["dynamodb"]["SequenceNumber"]] if len(attempts) == 1 else []

    handler = Recorder(fail=fail_once)
    poller = _poller(clients, handler)
    poller.poll_once()
    assert attempts == [2, 1]
    assert handler.sequence_batches()[1] == handler.sequence_batches()[0][1:]
    assert (poller.records_delivered, poller.records_skipped) == (2, 0)


def test_a_raising_handler_bisects_the_batch(clients: Clients) -> None:
    for ts in range(1, 5):
        _put_message(clients, ts)
    poison = f"MSG#{3:016d}"
    handler = Recorder(
        raise_when=lambda event: any(r["dynamodb"]["Keys"]["SK"]["S"] == poison for r in event["Records"])
    )
    poller = _poller(clients, handler)
    poller.poll_once()
    sizes = [len(b) for b in handler.sequence_batches()]
    # [1,2,3,4] fails -> [1,2] ok, [3,4] fails -> [3] fails 1 + 3 times, [4] ok
    assert sizes == [4, 2, 2, 1, 1, 1, 1, 1]
    assert (poller.records_delivered, poller.records_skipped) == (3, 1)


def test_the_thread_polls_until_stopped(clients: Clients) -> None:
    delivered = threading.Event()

    def note(event: dict[str, Any]) -> list[str]:
        delivered.set()
        return []

    handler = Recorder(fail=note)
    poller = _poller(clients, handler, poll_interval=0.05)
    poller.start()
    try:
        _put_session(clients, 1)
        _put_message(clients, 1)
        assert delivered.wait(10), "the poller never delivered the message"
    finally:
        poller.stop()
    assert not poller.running
    assert len(handler.events) == 1


def test_the_thread_survives_a_table_error_and_logs_it(clients: Clients) -> None:
    log = io.StringIO()
    poller = StreamPoller(
        _summariser(),
        "no-such-table",
        dynamodb=clients.dynamodb,
        streams=clients.streams,
        handler=Recorder(),
        poll_interval=0.05,
        log=log,
    )
    poller.start()
    try:
        deadline = time.monotonic() + 120  # a generous bound on a busy machine, not a speed requirement
        while "no-such-table" not in log.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert poller.running
    finally:
        poller.stop()
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines  # the same error is not repeated every poll
    assert "ResourceNotFoundException" in lines[0]


def test_start_stream_pollers_drives_the_templates_consumer_in_process(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `chat-memory serve` does: the handler imported by name, the environment from the template."""
    handler = Recorder()
    module = types.ModuleType("chat_memory_fake_summariser")
    module.lambda_handler = handler  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.delenv("SUMMARY_MODEL_ID", raising=False)
    monkeypatch.setenv("SUMMARY_MODEL_REGION", "eu-central-1")
    invoke_lock = threading.Lock()
    db = LocalDynamoDB(endpoint_url=clients.endpoint, table_name=clients.table, embedded=None)
    consumer = _summariser(handler=f"{module.__name__}.lambda_handler")
    pollers = start_stream_pollers(db, handlers=HandlerCache(), invoke_lock=invoke_lock, consumers=[consumer])
    try:
        assert [p.consumer.function for p in pollers] == ["SummariserFunction"]
        assert os.environ["SUMMARY_MODEL_ID"] == ""  # the parameter's default
        assert os.environ["SUMMARY_MODEL_REGION"] == "eu-central-1"  # the user's value is kept
        with invoke_lock:  # an HTTP handler is running: the stream waits for it
            _put_message(clients, 1)
            time.sleep(0.5)
            assert handler.events == []
        deadline = time.monotonic() + 120  # a generous bound on a busy machine, not a speed requirement
        while not handler.events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(handler.events) == 1
    finally:
        for poller in pollers:
            poller.stop()
        monkeypatch.delenv("SUMMARY_MODEL_ID", raising=False)


def test_serve_drives_the_summariser_the_indexer_and_the_purger_each_with_its_filter(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chat-memory serve`'s pollers: every consumer of the template, each handed only what its filter lets through
    (moto's stream records of a session tombstone carry `deleted` as a BOOL, as DynamoDB Streams does)."""
    summariser, purger, indexer = Recorder(), Recorder(), Recorder()
    for name, handler in (("summariser", summariser), ("purger", purger), ("indexer", indexer)):
        module = types.ModuleType(f"chat_memory.handlers.{name}")
        module.lambda_handler = handler  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setenv("SUMMARY_MODEL_ID", "")
    monkeypatch.setenv("SUMMARY_MODEL_REGION", "us-east-1")
    db = LocalDynamoDB(endpoint_url=clients.endpoint, table_name=clients.table, embedded=None)
    pollers = start_stream_pollers(db, handlers=HandlerCache(), invoke_lock=threading.Lock())
    try:
        assert sorted(p.consumer.function for p in pollers) == [
            "IndexerFunction",
            "PurgerFunction",
            "SummariserFunction",
        ]
        _put_session(clients, 1)  # a live session: for none
        _put_message(clients, 1)  # for the summariser and the indexer
        clients.dynamodb.update_item(  # the tombstone: for the purger
            TableName=clients.table,
            Key={"PK": {"S": PK}, "SK": {"S": "SESSION"}},
            UpdateExpression="SET deleted = :t, version = :v",
            ExpressionAttributeValues={":t": {"BOOL": True}, ":v": {"N": "2"}},
        )
        clients.dynamodb.update_item(  # deleted = false: for neither
            TableName=clients.table,
            Key={"PK": {"S": PK}, "SK": {"S": "SESSION"}},
            UpdateExpression="SET deleted = :f, version = :v",
            ExpressionAttributeValues={":f": {"BOOL": False}, ":v": {"N": "3"}},
        )
        deadline = time.monotonic() + 120  # a generous bound on a busy machine, not a speed requirement
        while (not summariser.events or not purger.events or not indexer.events) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # a few more polling rounds: nothing else arrives
    finally:
        for poller in pollers:
            poller.stop()
    [summariser_event] = summariser.events
    assert [(r["eventName"], r["dynamodb"]["Keys"]["SK"]["S"]) for r in summariser_event["Records"]] == [
        ("INSERT", "MSG#0000000000000001")
    ]
    [indexer_event] = indexer.events
    assert [(r["eventName"], r["dynamodb"]["Keys"]["SK"]["S"]) for r in indexer_event["Records"]] == [
        ("INSERT", "MSG#0000000000000001")
    ]
    [purger_event] = purger.events
    [record] = purger_event["Records"]
    assert (record["eventName"], record["dynamodb"]["Keys"]["SK"]["S"]) == ("MODIFY", "SESSION")
    assert record["dynamodb"]["NewImage"]["deleted"] == {"BOOL": True}
    assert "deleted" not in record["dynamodb"]["OldImage"]
    assert purger.contexts[0].function_name == "PurgerFunction"
    assert purger.contexts[0].get_remaining_time_in_millis() > 800_000  # the purger's Timeout (900 s)


def test_with_a_worker_pool_the_consumer_runs_in_a_worker_that_has_the_consumers_environment(
    clients: Clients, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`chat-memory serve --workers N`: the consumer runs in a worker process, started (as serve does) after
    start_stream_pollers set the function's environment from the template, so the worker inherits it."""
    record_file = tmp_path / "batches.jsonl"
    monkeypatch.setenv("POOL_TEST_RECORD_FILE", str(record_file))
    monkeypatch.delenv("SUMMARY_MODEL_ID", raising=False)
    db = LocalDynamoDB(endpoint_url=clients.endpoint, table_name=clients.table, embedded=None)
    pool = WorkerPool(1)
    pollers = start_stream_pollers(
        db, invoker=pool, consumers=[_summariser(handler="tests.unit.dev.pool_handlers.record")]
    )
    pool.start()
    try:
        _put_message(clients, 1)
        # Wait for the delivery to have returned, not for the file to appear: the worker creates it, then writes it
        # (a test that read it in between failed on a busy machine). The bound is generous, not a speed requirement.
        deadline = time.monotonic() + 120
        while pollers[0].records_delivered < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        [batch] = [json.loads(line) for line in record_file.read_text().splitlines()]
        assert batch["pid"] in pool.pids and batch["pid"] != os.getpid()
        assert batch["function"] == "SummariserFunction"
        assert batch["summary_model_id"] == ""  # the template's default, set before the worker started
        assert len(batch["sequences"]) == 1
        assert pollers[0].invocations == 1
    finally:
        for poller in pollers:
            poller.stop()
        pool.close()
        monkeypatch.delenv("SUMMARY_MODEL_ID", raising=False)
