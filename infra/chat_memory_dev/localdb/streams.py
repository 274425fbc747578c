"""A DynamoDB stream for moto's tables that keeps what its readers still need, and no more.

moto 5.2 keeps every stream record of a table for ever, every shard iterator ever handed out for ever, gives every
shard the same id, and hands a reader no way to notice that its shard was replaced. Here:

- `RetainingStreamShard` drops the records every live reader has read, `READ_GRACE_S` after they were written (a
  reader is a chain of iterators, each handed out by the previous GetRecords; it is live while its newest iterator
  has not expired, 15 minutes as on DynamoDB), and in any case keeps at most `MAX_RECORDS` records, `MAX_BYTES`
  of them and 24 hours (DynamoDB's retention). Reading before the oldest kept record is DynamoDB's
  TrimmedDataAccessException. (So a reader that starts late at TRIM_HORIZON sees less than on DynamoDB.)
- Each shard has its own id; a shard replaced (the stream disabled and enabled again, the table re-created) is
  closed: reading it to its end gives no NextShardIterator, so a reader moves on to the new shard.
- Iterators expire after 15 minutes (ExpiredIteratorException) and are forgotten then; of more than
  `MAX_ITERATORS`, the oldest expire early.
"""

from __future__ import annotations

import secrets
import threading
import time
import weakref
from collections import deque
from typing import Any, Final

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models.table import StreamRecord, StreamShard

ITERATOR_LIFETIME_S: Final = 15 * 60  # DynamoDB Streams: a shard iterator expires 15 minutes after it is handed out
# Every GetRecords hands out a new iterator (each some 1.3 KB here): a busy reader made tens of thousands within the
# lifetime. Beyond this many, the oldest expire early (readers that follow NextShardIterator never notice).
MAX_ITERATORS: Final = 1_000
RETENTION_S: Final = 24 * 3600  # DynamoDB Streams keeps a record for 24 hours
# A record every live reader has read is kept this long still, for a reader that is about to start (the stream
# consumers of `chat-memory serve` start one after the other, after the records a restart replays).
READ_GRACE_S: Final = 60.0
MAX_RECORDS: Final = 50_000
MAX_BYTES: Final = 64 * 1024 * 1024  # of the records' SizeBytes

_SHARDS: weakref.WeakValueDictionary[str, RetainingStreamShard] = weakref.WeakValueDictionary()

# The items the TTL sweep (ttl.py) is deleting, by (table, partition key, sort key): their REMOVE records say
# that DynamoDB's TTL deleted them, as DynamoDB's do (GetRecords' shape; Lambda's events spell it in lower case).
TTL_IDENTITY: Final = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
_TTL_DELETIONS: set[tuple[str, str, str]] = set()
_TTL_LOCK = threading.Lock()


def ttl_key(table: str, hash_key: Any, range_key: Any) -> tuple[str, str, str]:
    return (table, str(hash_key), str(range_key))


def expiring(key: tuple[str, str, str], *, done: bool = False) -> None:
    """Mark an item the TTL sweep is about to delete (or, `done`, unmark it)."""
    with _TTL_LOCK:
        if done:
            _TTL_DELETIONS.discard(key)
        else:
            _TTL_DELETIONS.add(key)


def _deleted_by_ttl(table: str, old: Any) -> bool:
    range_key = old.range_key.value if old.range_key is not None else ""
    key = ttl_key(table, old.hash_key.value, range_key)
    with _TTL_LOCK:
        return key in _TTL_DELETIONS


class TrimmedDataAccessError(JsonRESTError):
    def __init__(self, sequence_number: int, oldest: int) -> None:
        super().__init__(
            "TrimmedDataAccessException",
            f"record {sequence_number} is no longer in the stream (the oldest kept is {oldest})",
        )


class ExpiredIteratorError(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ExpiredIteratorException", "the shard iterator has expired or is unknown")


class RetainingStreamShard(StreamShard):
    """A table's stream shard; `starting_sequence_number` is that of the oldest record kept."""

    def __init__(self, account_id: str, table: Any, clock: Any = time.monotonic) -> None:
        super().__init__(account_id, table)
        self.id = f"shardId-{int(time.time() * 1000):020d}-{secrets.token_hex(4)}"
        self.closed = False
        self.clock = clock
        self.readers: dict[int, tuple[int, float]] = {}  # reader -> (next sequence number it reads, last read)
        self._born: deque[tuple[float, int]] = deque()  # (clock, SizeBytes) of each kept record, oldest first
        self._bytes = 0
        _SHARDS[self.id] = self

    @property
    def next_sequence_number(self) -> int:
        return int(self.starting_sequence_number) + len(self.items)

    def add(self, old: Any, new: Any) -> None:
        kind = (self.table.stream_specification or {})["StreamViewType"]
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        record = StreamRecord(self.table, kind, event, old, new, self.next_sequence_number)
        if new is None and old is not None and _deleted_by_ttl(self.table.name, old):
            record.record["userIdentity"] = dict(TTL_IDENTITY)
        self.items.append(record)
        size = int(record.record["dynamodb"]["SizeBytes"])
        self._born.append((self.clock(), size))
        self._bytes += size
        self._enforce_limits()

    def get(self, start: int, quantity: int) -> list[dict[str, Any]]:
        first = int(self.starting_sequence_number)
        if start < first:
            raise TrimmedDataAccessError(start, first)
        begin = start - first
        return [r.to_json() for r in self.items[begin : begin + quantity]]

    def truncate(self, next_sequence_number: int) -> None:
        """Forget the records from `next_sequence_number` on (those of a call that is undone)."""
        keep = next_sequence_number - int(self.starting_sequence_number)
        while len(self.items) > max(keep, 0):
            self.items.pop()
            _, size = self._born.pop()
            self._bytes -= size

    def trim_before(self, sequence_number: int) -> None:
        count = min(sequence_number - int(self.starting_sequence_number), len(self.items))
        if count <= 0:
            return
        del self.items[:count]
        for _ in range(count):
            self._bytes -= self._born.popleft()[1]
        self.starting_sequence_number = int(self.starting_sequence_number) + count

    def _enforce_limits(self) -> None:
        """Forget the oldest records that are over a limit, or read by every live reader a while ago."""
        now = self.clock()
        read = min((position for position, _ in self.readers.values()), default=None)
        first = int(self.starting_sequence_number)
        count = 0
        left_bytes = self._bytes
        for born, size in self._born:
            over_limit = len(self.items) - count > MAX_RECORDS or left_bytes > MAX_BYTES or born < now - RETENTION_S
            done_with = read is not None and first + count < read and born < now - READ_GRACE_S
            if not (over_limit or done_with):
                break
            count += 1
            left_bytes -= size
        if count:
            self.trim_before(first + count)

    def reader_at(self, reader: int, next_position: int) -> None:
        """A reader will read from `next_position` on: forget what no live reader needs any more."""
        now = self.clock()
        self.readers[reader] = (next_position, now)
        for stale in [r for r, (_, used) in self.readers.items() if now - used > ITERATOR_LIFETIME_S]:
            del self.readers[stale]
        self._enforce_limits()


def replace_shard(table: Any) -> None:
    """After moto set `table`'s stream specification: a new shard is a RetainingStreamShard and closes the one it
    replaces; a disabled stream has no shard (moto kept writing to the old one, and failed on it)."""
    shard = table.stream_shard
    if not (table.stream_specification or {}).get("StreamEnabled"):
        if isinstance(shard, RetainingStreamShard):
            shard.closed = True
        table.stream_shard = None
        table.latest_stream_label = None  # as on DynamoDB, it may be enabled again (a new stream)
        return
    if shard is None or isinstance(shard, RetainingStreamShard):
        return
    previous = getattr(table, "_chat_memory_previous_shard", None)
    if previous is not None:
        previous.closed = True
    table.stream_shard = RetainingStreamShard(shard.account_id, table)
    table._chat_memory_previous_shard = table.stream_shard


# ------------------------------------------------------------------------------------------- streams backend


class _IteratorBook:
    """Per streams backend: when each iterator was handed out, and which reader it belongs to."""

    def __init__(self) -> None:
        self.handed_out: deque[tuple[float, str]] = deque()
        self.reader_of: dict[str, int] = {}
        self.next_reader = 0

    def register(self, backend: Any, arn: str, reader: int | None = None) -> None:
        now = time.monotonic()
        while self.handed_out and (
            now - self.handed_out[0][0] > ITERATOR_LIFETIME_S or len(self.handed_out) >= MAX_ITERATORS
        ):
            _, old = self.handed_out.popleft()
            backend.shard_iterators.pop(old, None)
            self.reader_of.pop(old, None)
        if reader is None:
            self.next_reader += 1
            reader = self.next_reader
        self.handed_out.append((now, arn))
        self.reader_of[arn] = reader


def _book(backend: Any) -> _IteratorBook:
    book = getattr(backend, "_chat_memory_iterators", None)
    if book is None:
        book = backend._chat_memory_iterators = _IteratorBook()
    return book


def get_shard_iterator(backend: Any, arn: str, shard_id: str, kind: str, sequence_number: Any = None) -> Any:
    from moto.dynamodbstreams.models import ShardIterator

    table = backend._get_table_from_arn(arn)
    shard = table.stream_shard if table.stream_shard is not None and table.stream_shard.id == shard_id else None
    shard = shard or _SHARDS.get(shard_id)
    if shard is None:
        raise JsonRESTError("ResourceNotFoundException", f"shard {shard_id} not found")
    iterator = ShardIterator(backend, shard, kind, sequence_number)
    backend.shard_iterators[iterator.arn] = iterator
    book = _book(backend)
    book.register(backend, iterator.arn)
    if isinstance(shard, RetainingStreamShard):
        shard.reader_at(book.reader_of[iterator.arn], int(iterator.sequence_number))
    return iterator


def get_records(backend: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
    book = _book(backend)
    iterator = backend.shard_iterators.get(iterator_arn)
    if iterator is None:
        raise ExpiredIteratorError
    shard = iterator.stream_shard
    result: dict[str, Any] = iterator.get(limit)
    following = backend.shard_iterators[result["NextShardIterator"]]
    book.register(backend, result["NextShardIterator"], book.reader_of.get(iterator_arn))
    if isinstance(shard, RetainingStreamShard):
        shard.reader_at(book.reader_of[result["NextShardIterator"]], int(following.sequence_number))
        if shard.closed and int(following.sequence_number) >= shard.next_sequence_number:
            del result["NextShardIterator"]  # a closed shard read to its end: go on with its successor
    return result
