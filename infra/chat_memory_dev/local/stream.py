"""Drive the stream consumers of template.yaml (the summariser, the purger) locally, as Lambda's event source
mappings would.

`chat-memory serve` starts one `StreamPoller` thread per `Type: DynamoDB` event in the template. It reads the
table's stream (moto's DynamoDB Streams when the DynamoDB is embedded), keeps one shard iterator per shard, applies
the event's FilterCriteria, and calls the function's `lambda_handler` with the DynamoDB Streams event Lambda would
send, in batches of BatchSize, through the server's invoker: in a worker process beside the HTTP handlers (as on
AWS, where the consumers run concurrently with the API), or in-process under the HTTP handlers' invoke lock
(Powertools keeps per-invocation state on classes, so in-process invocations must not overlap).

Fidelity notes:
- Records keep their order within a shard; a child shard is read only after its parent is finished.
- A partial batch response (`{"batchItemFailures": [{"itemIdentifier": "<SequenceNumber>"}]}`, with
  ReportBatchItemFailures) retries from the lowest failed sequence number; an error retries the whole batch, split
  in halves first with BisectBatchOnFunctionError. After MaximumRetryAttempts retries the records are logged and
  skipped (on AWS the OnFailure destination gets a description of them). Retries wait `retry_delay`, doubling.
- Only the subset of Lambda's filter syntax this template can use is implemented (`FilterPatternError` otherwise):
  nested objects, lists of exact values, `prefix`, `suffix`, `equals-ignore-case`, `anything-but`, `exists`,
  `numeric`. As on Lambda, filters apply to the whole record (eventName, dynamodb.Keys, dynamodb.NewImage, ...).
- `ApproximateCreationDateTime` is epoch seconds and binary attributes are base64, as in Lambda's event.
- Errors are written to stderr; the poller never stops the server.
"""

from __future__ import annotations

import base64
import math
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TextIO
from urllib.parse import urlsplit

from chat_memory_dev.template import StreamConsumer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

    from chat_memory_dev.local.runtime import HandlerCache, Invoker
    from chat_memory_dev.localdb.dynamodb import LocalDynamoDB

LambdaHandler = Callable[[dict[str, Any], Any], Any]

POLL_INTERVAL_S: Final = 0.5
SHARD_REFRESH_S: Final = 5.0  # DescribeStream is rate limited on AWS; shards change every few hours there
RECORDS_PER_CALL: Final = 1000  # GetRecords' maximum
RETRY_DELAY_S: Final = 0.5
MAX_RETRY_DELAY_S: Final = 5.0
# MaximumRetryAttempts absent (or -1) means "until the record expires" on AWS; locally that is bounded.
LOCAL_MAX_RETRY_ATTEMPTS: Final = 10
STREAMS_ENDPOINT_ENV: Final = "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"  # botocore's variable for "DynamoDB Streams"
ERROR_REPEAT_S: Final = 30.0  # the same polling error is written at most this often


# ------------------------------------------------------------------------------------------------- filters


class FilterPatternError(ValueError):
    """A filter pattern uses syntax this local matcher does not implement (or that Lambda rejects)."""


_MISSING: Final = object()
_OPERATORS: Final = frozenset({"prefix", "suffix", "equals-ignore-case", "anything-but", "exists", "numeric"})
_NUMERIC_OPS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_pattern(pattern: Any, where: str = "pattern") -> None:
    """Raise FilterPatternError unless `pattern` is a filter pattern this module can evaluate."""
    if not isinstance(pattern, dict) or not pattern:
        raise FilterPatternError(f"{where}: expected a non-empty object, got {pattern!r}")
    for key, value in pattern.items():
        path = f"{where}.{key}"
        if isinstance(value, dict):
            validate_pattern(value, path)
        elif isinstance(value, list):
            if not value:
                raise FilterPatternError(f"{path}: an empty list matches nothing")
            for matcher in value:
                _validate_matcher(matcher, path)
        else:
            raise FilterPatternError(f"{path}: values must be objects or lists, got {value!r}")


def _validate_matcher(matcher: Any, path: str) -> None:
    if matcher is None or isinstance(matcher, str | bool) or _is_number(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise FilterPatternError(f"{path}: unsupported matcher {matcher!r}")
    [(operator, operand)] = matcher.items()
    if operator not in _OPERATORS:
        raise FilterPatternError(f"{path}: unsupported operator {operator!r}")
    if operator in ("prefix", "suffix", "equals-ignore-case") and not isinstance(operand, str):
        raise FilterPatternError(f"{path}: {operator} needs a string")
    if operator == "exists" and not isinstance(operand, bool):
        raise FilterPatternError(f"{path}: exists needs true or false")
    if operator == "anything-but":
        if isinstance(operand, dict):
            if set(operand) != {"prefix"} or not isinstance(operand["prefix"], str):
                raise FilterPatternError(f"{path}: anything-but supports only a list, a value or a prefix")
        else:
            for value in operand if isinstance(operand, list) else [operand]:
                if not (isinstance(value, str) or _is_number(value)):
                    raise FilterPatternError(f"{path}: anything-but needs strings or numbers")
    if operator == "numeric":
        if not isinstance(operand, list) or len(operand) not in (2, 4):
            raise FilterPatternError(f"{path}: numeric needs [op, n] or [op, n, op, n]")
        for op, bound in zip(operand[::2], operand[1::2], strict=True):
            if op not in _NUMERIC_OPS or not _is_number(bound):
                raise FilterPatternError(f"{path}: bad numeric comparison {op!r} {bound!r}")


def _matcher_matches(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict):
        [(operator, operand)] = matcher.items()
        if operator == "exists":
            return (value is not _MISSING) is operand
        if value is _MISSING:
            return False
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(operand)
        if operator == "suffix":
            return isinstance(value, str) and value.endswith(operand)
        if operator == "equals-ignore-case":
            return isinstance(value, str) and value.casefold() == operand.casefold()
        if operator == "anything-but":
            if isinstance(operand, dict):
                return isinstance(value, str) and not value.startswith(operand["prefix"])
            excluded = operand if isinstance(operand, list) else [operand]
            return not any(_literal_equals(e, value) for e in excluded)
        if operator == "numeric":
            if not _is_number(value):
                return False
            pairs = zip(operand[::2], operand[1::2], strict=True)
            return all(_NUMERIC_OPS[op](float(value), float(bound)) for op, bound in pairs)
        raise FilterPatternError(f"unsupported operator {operator!r}")
    return value is not _MISSING and _literal_equals(matcher, value)


def _literal_equals(expected: Any, value: Any) -> bool:
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return type(expected) is type(value) and bool(expected == value)


def _leaf_matches(matchers: Sequence[Any], value: Any) -> bool:
    if isinstance(value, list):  # an array in the record matches when any element does
        return any(_matcher_matches(m, v) for m in matchers for v in value) if value else False
    return any(_matcher_matches(m, value) for m in matchers)


def pattern_matches(pattern: Mapping[str, Any], record: Any) -> bool:
    """Whether `record` (a Lambda event record, JSON-shaped) matches one filter pattern."""
    for key, expected in pattern.items():
        value = record.get(key, _MISSING) if isinstance(record, dict) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING:
                value = {}  # so that nested `exists: false` can match an absent object
            if not isinstance(value, dict) or not pattern_matches(expected, value):
                return False
        elif not _leaf_matches(expected, value):
            return False
    return True


def record_passes_filters(patterns: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """Lambda's FilterCriteria: no filter lets everything through, otherwise any one pattern must match."""
    return not patterns or any(pattern_matches(p, record) for p in patterns)


# -------------------------------------------------------------------------------------------------- events


def _json_shaped(value: Any) -> Any:
    """boto3's parsed values back to the JSON Lambda sends: bytes as base64, datetimes as epoch seconds."""
    if isinstance(value, dict):
        return {k: _json_shaped(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_json_shaped(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as it appears in Lambda's DynamoDB Streams event (plus `eventSourceARN`; a TTL deletion's
    `userIdentity` as Lambda spells it: `type`, `principalId`)."""
    shaped: dict[str, Any] = _json_shaped(dict(record))
    shaped["eventSourceARN"] = stream_arn
    identity = shaped.get("userIdentity")
    if isinstance(identity, dict):
        shaped["userIdentity"] = {name[:1].lower() + name[1:]: value for name, value in identity.items()}
    return shaped


def build_stream_event(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The event Lambda passes to a DynamoDB stream consumer: `{"Records": [...]}`."""
    return {"Records": [dict(r) for r in records]}


def sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def first_failed_index(
    records: Sequence[Mapping[str, Any]], result: Any, *, report_batch_item_failures: bool = True
) -> int | None:
    """Where a batch must be retried from after the handler returned `result`; None when it succeeded.

    As Lambda reads a partial batch response: no or empty `batchItemFailures` is success; otherwise the checkpoint
    is the lowest failed sequence number of the batch, and an identifier that is missing, empty or not in the batch
    fails the whole batch. Without ReportBatchItemFailures the result is ignored.
    """
    if not report_batch_item_failures or not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if not failures:
        return None
    if not isinstance(failures, list):
        return 0
    positions = {sequence_number(r): i for i, r in enumerate(records)}
    failed: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0
        failed.append(positions[identifier])
    return min(failed)


# -------------------------------------------------------------------------------------------------- poller


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    initial: bool  # present at the first DescribeStream (StartingPosition applies to these only)
    iterator: str | None = None
    last_sequence: str | None = None
    finished: bool = False


class StreamPoller:
    """Reads one table's stream and delivers the records one consumer's filters let through to its handler.

    `poll_once()` does one round (tests call it directly); `start()` runs rounds every `poll_interval` seconds on a
    daemon thread until `stop()`. `handler` is the function to call; without it the consumer's handler is imported
    through `handlers` on the first round, or, with `invoker`, run by it (e.g. in a worker process).
    """

    def __init__(
        self,
        consumer: StreamConsumer,
        table_name: str,
        *,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        handler: LambdaHandler | None = None,
        handlers: HandlerCache | None = None,
        invoke_lock: threading.Lock | None = None,
        invoker: Invoker | None = None,
        poll_interval: float = POLL_INTERVAL_S,
        retry_delay: float = RETRY_DELAY_S,
        log: TextIO | None = None,
    ) -> None:
        for i, pattern in enumerate(consumer.filter_patterns):
            validate_pattern(pattern, f"{consumer.function} filter {i}")
        self.consumer = consumer
        self.table_name = table_name
        self._dynamodb = dynamodb
        self._streams = streams
        self._handler = handler
        self._handlers = handlers
        self._invoke_lock = invoke_lock or threading.Lock()
        self._invoker = invoker
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self._log = log
        retries = consumer.maximum_retry_attempts
        self.max_retry_attempts = LOCAL_MAX_RETRY_ATTEMPTS if retries is None else retries
        self.stream_arn: str | None = None
        self._shards: dict[str, _Shard] = {}
        self._shards_checked = -math.inf
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: tuple[str, float] | None = None
        self._rounds = threading.Condition()
        self._round = 0  # rounds completed by the thread
        self._last_round_read = -1  # records the last completed round read (-1: it failed)
        self._from_trim_horizon: set[str] = set()  # shards whose next iterator starts at the oldest record kept
        # Counters, for tests and the curious.
        self.invocations = 0
        self.records_delivered = 0
        self.records_skipped = 0  # given up on after the retries (the OnFailure destination on AWS)

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"chat-memory-stream-{self.consumer.function}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (an invocation in progress finishes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        if not self._resolve_handler():
            return
        while not self._stop.is_set():
            read = -1
            try:
                read = self.poll_once()
            except _NoStreamError as exc:
                self._write(f"{exc}; {self.consumer.function} is not driven")
                return
            except Exception as exc:
                self._poll_error(exc)
            with self._rounds:
                self._round += 1
                self._last_round_read = read
                self._rounds.notify_all()
            if read <= 0:
                self._stop.wait(self.poll_interval)

    def wait_caught_up(self, timeout_s: float) -> bool:
        """Wait until a whole round that began after this call found nothing new to read (what was written before
        the call has been handled); False after `timeout_s`. True at once when the thread is not running."""
        with self._rounds:
            start = self._round
            return self._rounds.wait_for(
                lambda: not self.running or (self._round > start + 1 and self._last_round_read == 0), timeout_s
            )

    def _resolve_handler(self) -> bool:
        if self._handler is not None or self._invoker is not None:
            return True
        if self._handlers is None:
            from chat_memory_dev.local.runtime import HandlerCache

            self._handlers = HandlerCache()
        try:
            self._handler = self._handlers.get(self.consumer.handler)
        except Exception:
            self._write(f"cannot import {self.consumer.handler}; {self.consumer.function} is not driven:")
            self._traceback()
            return False
        return True

    # -- polling

    def poll_once(self) -> int:
        """One round over every readable shard; returns the number of stream records read."""
        if self.stream_arn is None:
            table = self._dynamodb.describe_table(TableName=self.table_name)["Table"]
            arn = table.get("LatestStreamArn")
            if not arn or not table.get("StreamSpecification", {}).get("StreamEnabled", False):
                raise _NoStreamError(f"table {self.table_name} has no stream")
            self.stream_arn = arn
        if time.monotonic() - self._shards_checked >= SHARD_REFRESH_S:
            self._refresh_shards()
        read = 0
        for shard in list(self._shards.values()):
            if self._stop.is_set():
                break
            parent = self._shards.get(shard.parent_id) if shard.parent_id else None
            if shard.finished or (parent is not None and not parent.finished):
                continue
            read += self._poll_shard(shard)
        return read

    def _refresh_shards(self) -> None:
        assert self.stream_arn is not None
        first = not self._shards
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id not in self._shards:
                    self._shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"), initial=first)
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last
        self._shards_checked = time.monotonic()

    def _iterator(self, shard: _Shard) -> str:
        assert self.stream_arn is not None
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        if shard.shard_id in self._from_trim_horizon:
            self._from_trim_horizon.discard(shard.shard_id)
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        elif shard.last_sequence is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_sequence)
        elif shard.initial and self.consumer.starting_position == "LATEST":
            kwargs["ShardIteratorType"] = "LATEST"
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self._streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def _poll_shard(self, shard: _Shard) -> int:
        assert self.stream_arn is not None
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        try:
            page = self._streams.get_records(ShardIterator=shard.iterator, Limit=RECORDS_PER_CALL)
        except self._streams.exceptions.ExpiredIteratorException:
            shard.iterator = None  # a fresh one next round, after the last record handled
            return 0
        except self._streams.exceptions.TrimmedDataAccessException:
            # Records this consumer had not read yet are gone (the stream's retention): go on from the oldest kept.
            self._write(
                f"{self.consumer.function}: records after {shard.last_sequence} left the stream before they were "
                "read; going on from the oldest record kept"
            )
            shard.iterator = None
            self._from_trim_horizon.add(shard.shard_id)
            return 0
        records = page.get("Records", [])
        next_iterator = page.get("NextShardIterator")
        stream_arn = self.stream_arn
        shaped = [lambda_record(r, stream_arn) for r in records]
        batch: list[dict[str, Any]] = []
        for record in shaped:
            if self._stop.is_set():
                return len(records)  # shutting down: the rest of the page is not delivered
            if record_passes_filters(self.consumer.filter_patterns, record):
                batch.append(record)
                if len(batch) == self.consumer.batch_size:
                    self._deliver(batch)
                    batch = []
            shard.last_sequence = sequence_number(record)  # filtered-out records are checkpointed too
        if batch:
            self._deliver(batch)
        shard.iterator = next_iterator
        if next_iterator is None:
            shard.finished = True  # a closed shard, read to its end
        return len(records)

    # -- delivery

    def _deliver(self, records: list[dict[str, Any]], retries: int = 0) -> None:
        pending = records
        while pending:
            errored = False
            try:
                result = self._invoke(build_stream_event(pending))
            except Exception:
                self._write(
                    f"{self.consumer.function} failed on {len(pending)} record(s) "
                    f"({sequence_number(pending[0])}..{sequence_number(pending[-1])}):"
                )
                self._traceback()
                errored, failed = True, 0
            else:
                failed_at = first_failed_index(
                    pending, result, report_batch_item_failures=self.consumer.report_batch_item_failures
                )
                if failed_at is None:
                    self.records_delivered += len(pending)
                    return
                failed = failed_at
            self.records_delivered += failed
            if errored and self.consumer.bisect_on_error and len(pending) > 1:
                middle = len(pending) // 2
                self._deliver(pending[:middle], retries)
                self._deliver(pending[middle:], retries)
                return
            if retries >= self.max_retry_attempts or self._stop.is_set():
                skipped = pending[failed:]
                self.records_skipped += len(skipped)
                self._write(
                    f"{self.consumer.function}: skipping {len(skipped)} record(s) "
                    f"({sequence_number(skipped[0])}..{sequence_number(skipped[-1])}) after {retries} "
                    "retries (on AWS: described in the OnFailure destination)"
                )
                return
            delay = min(self.retry_delay * 2**retries, MAX_RETRY_DELAY_S)
            retries += 1
            pending = pending[failed:]
            if delay > 0 and self._stop.wait(delay):
                self.records_skipped += len(pending)
                self._write(f"{self.consumer.function}: stopping; {len(pending)} record(s) not retried")
                return

    def _invoke(self, event: dict[str, Any]) -> Any:
        from chat_memory_dev.local.runtime import FakeLambdaContext, discard_unpublished_metrics

        timeout_ms = self.consumer.timeout_s * 1000
        if self._invoker is not None:
            self.invocations += 1
            return self._invoker.invoke(
                self.consumer.handler, self.consumer.function, event, str(uuid.uuid4()), timeout_ms
            )
        if self._handler is None and not self._resolve_handler():
            raise RuntimeError(f"cannot import {self.consumer.handler}")
        assert self._handler is not None
        context = FakeLambdaContext(self.consumer.function, str(uuid.uuid4()), timeout_ms)
        with self._invoke_lock:
            self.invocations += 1
            try:
                return self._handler(event, context)
            finally:
                discard_unpublished_metrics()

    # -- logging

    def _out(self) -> TextIO:
        return self._log or sys.stderr

    def _write(self, message: str) -> None:
        self._out().write(f"chat-memory: stream: {message}\n")
        self._out().flush()

    def _traceback(self) -> None:
        traceback.print_exc(file=self._out())

    def _poll_error(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if self._last_error is not None and self._last_error[0] == text and now - self._last_error[1] < ERROR_REPEAT_S:
            return
        self._last_error = (text, now)
        self._write(f"reading the stream of {self.table_name} failed ({text}); retrying")


class _NoStreamError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------- serving


def streams_endpoint_url(dynamodb_endpoint: str | None) -> str | None:
    """The DynamoDB Streams endpoint that goes with a DynamoDB endpoint.

    $AWS_ENDPOINT_URL_DYNAMODB_STREAMS wins (botocore reads it itself: None). A local DynamoDB (moto, DynamoDB
    Local) serves its streams on the same endpoint; AWS (`*.amazonaws.com`) has its own (botocore's default: None).
    """
    if os.environ.get(STREAMS_ENDPOINT_ENV) or not dynamodb_endpoint:
        return None
    host = (urlsplit(dynamodb_endpoint).hostname or "").lower()
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws")):
        return None
    return dynamodb_endpoint


def start_stream_pollers(
    db: LocalDynamoDB,
    *,
    handlers: HandlerCache | None = None,
    invoke_lock: threading.Lock | None = None,
    invoker: Invoker | None = None,
    consumers: Sequence[StreamConsumer] | None = None,
    table_logical_id: str = "MemoryTable",
) -> list[StreamPoller]:
    """Start a poller for every stream consumer of the table in template.yaml; returns them (to `stop()`).

    The function-level environment of each consumer (e.g. SUMMARY_MODEL_ID) is set from the template's parameter
    defaults unless already set, as the handlers read it from os.environ (worker processes started afterwards
    inherit it). Handlers run through `invoker` when given, else in-process through `handlers` under `invoke_lock`.
    """
    import boto3
    from botocore.config import Config

    from chat_memory_dev.template import deployed_by_default, function_environment, stream_consumers

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    chosen = [
        c
        for c in (stream_consumers() if consumers is None else consumers)
        if c.table == table_logical_id and deployed_by_default(c.function, region=region)  # e.g. no EmbedderFunction
    ]
    if not chosen:
        return []
    config = Config(retries={"mode": "standard", "max_attempts": 3})
    dynamodb = boto3.client("dynamodb", endpoint_url=db.endpoint_url, config=config)
    streams = boto3.client("dynamodbstreams", endpoint_url=streams_endpoint_url(db.endpoint_url), config=config)
    pollers: list[StreamPoller] = []
    for consumer in chosen:
        for name, value in function_environment(consumer.function, region=region).items():
            os.environ.setdefault(name, value)
        poller = StreamPoller(
            consumer,
            db.table_name,
            dynamodb=dynamodb,
            streams=streams,
            handlers=handlers,
            invoke_lock=invoke_lock,
            invoker=invoker,
        )
        poller.start()
        pollers.append(poller)
    return pollers


__all__ = [
    "FilterPatternError",
    "StreamPoller",
    "build_stream_event",
    "first_failed_index",
    "lambda_record",
    "pattern_matches",
    "record_passes_filters",
    "start_stream_pollers",
    "streams_endpoint_url",
    "validate_pattern",
]
