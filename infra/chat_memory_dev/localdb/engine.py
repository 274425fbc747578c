"""moto's DynamoDB, made to behave like DynamoDB where chat-memory's guarantees and costs rely on it.

`install()` patches moto 5.2 (the one place that reaches into its internals; `moto` is pinned below 5.3 and
tests/integration/test_localdb_engine.py fails loudly when what is patched here changes). It serves the in-process
`mock_aws()` of the tests and benchmarks and the embedded server of `chat-memory serve` alike:

- **Every API call is atomic.** Calls run one at a time under `LOCK` (moto promises nothing across threads) and each
  keeps an item-level undo log: a call that fails (a cancelled transaction, a failed condition, a validation
  error half-way through a batch) leaves no trace, its stream records included. DynamoDB does the same.
- **Transactions cost what they write.** moto 5.2's `transact_write_items` deep-copies every table it touches once
  per action, to roll back on failure: each transaction cost grew with the whole table (all tenants, the stream's
  history included), and the copies, tied up in reference cycles, waited for full garbage collections that took
  seconds once the heap was gigabytes (the 503s of long local sessions). Here a transaction is checked and written
  item by item, and rolled back by the undo log. A cancelled transaction no longer swaps in a copy of the table
  with a copy of its stream, so stream readers keep reading.
- **A Query reads only what it returns**, in key order by binary search (`storage.py`), where moto walked and sorted
  every item of the table.
- **UpdateItem on a new item** gives one INSERT stream record with the new image (moto gave two).
- **Streams** keep what their readers still need, and shards can be followed when replaced (`streams.py`).
- **Memory stays bounded.** moto keeps every model object it ever made in a class-level list, for its dashboard:
  every item a Query returned (copies), every stream record and shard iterator, for ever (hundreds of MB over a
  long local session). The objects made per request are not tracked here.
- **Commit hooks** see each call that changed something (the durable local store journals them, `persistence.py`).
- **Strict mode** (on unless `CHAT_MEMORY_LOCALDB_STRICT=0`): DynamoDB's size limits that moto does not enforce
  (items, keys, transactions, batches, item collections), refused with DynamoDB's errors, checked under `LOCK` before
  moto runs a request and, for what an update makes, after (the undo log takes it back): `limits.py`. Items are
  measured by DynamoDB's rules there (Query and Scan pages, BatchGetItem's 16 MB), and TransactGetItems takes 100
  actions, as DynamoDB does (moto: 25).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from chat_memory_dev.localdb import limits, storage, streams
from chat_memory_dev.localdb.storage import QueryArgs, TableItems, UnsupportedQueryError

LOCK: Final = threading.RLock()
SUPPORTED_MOTO: Final = ("5.2.",)  # what install() was written against (pyproject pins moto <5.3)
SCHEMA_ACTIONS: Final = frozenset({"CreateTable", "DeleteTable", "UpdateTable", "UpdateTimeToLive"})


@dataclass
class Commit:
    """A call that succeeded and changed items or tables: what a commit hook gets, under LOCK."""

    backend: Any
    action: str
    params: dict[str, Any]  # the request's parameters (e.g. TableName)
    touched: list[tuple[TableItems, Any, Any]]  # (the table's items, hash key, range key or None), first touch first


CommitHook = Callable[[Commit], None]
_COMMIT_HOOKS: list[CommitHook] = []


@dataclass
class _CallChanges:
    """The undo log of one call: the value of each item it touched before its first change, and where each stream
    ended when the call began."""

    backend: Any
    before: dict[tuple[int, Any, Any], tuple[TableItems, Any, Any, Any]] = field(default_factory=dict)
    stream_ends: list[tuple[streams.RetainingStreamShard, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for table in self.backend.tables.values():
            shard = table.stream_shard
            if isinstance(shard, streams.RetainingStreamShard):
                self.stream_ends.append((shard, shard.next_sequence_number))

    def record(self, items: TableItems, hash_key: Any, range_key: Any, old: Any) -> None:
        self.before.setdefault((id(items), hash_key, range_key), (items, hash_key, range_key, old))

    def undo(self) -> None:
        for items, hash_key, range_key, old in reversed(list(self.before.values())):
            items.restore(hash_key, range_key, old)
        for shard, end in self.stream_ends:
            shard.truncate(end)


@contextmanager
def recording(changes: _CallChanges | None) -> Iterator[None]:
    previous, storage.RECORDER = storage.RECORDER, (changes.record if changes is not None else None)
    try:
        yield
    finally:
        storage.RECORDER = previous


def add_commit_hook(hook: CommitHook) -> None:
    with LOCK:
        _COMMIT_HOOKS.append(hook)


def remove_commit_hook(hook: CommitHook) -> None:
    with LOCK:
        if hook in _COMMIT_HOOKS:
            _COMMIT_HOOKS.remove(hook)


def _internal_error(message: str) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": message})
    return 500, {"status": "500", "Content-Type": "application/x-amz-json-1.0"}, body


# ------------------------------------------------------------------------------------------------- the patches

_ORIGINAL: dict[str, Any] = {}


def _call_action(self: Any) -> Any:
    with LOCK:
        changes = _CallChanges(self.dynamodb_backend)
        try:
            with recording(changes):
                status, headers, body = _ORIGINAL["DynamoHandler.call_action"](self)
        except BaseException:
            changes.undo()
            raise
        if int(status) >= 400:
            changes.undo()
            return status, headers, body
        action = self._get_action()
        if (changes.before or action in SCHEMA_ACTIONS) and _COMMIT_HOOKS:
            touched = [(i, h, r) for i, h, r, _ in changes.before.values()]
            commit = Commit(self.dynamodb_backend, action, dict(getattr(self, "body", None) or {}), touched)
            try:
                for hook in _COMMIT_HOOKS:
                    hook(commit)
            except Exception as exc:  # e.g. the journal cannot be written: the call must not count as done
                changes.undo()
                return _internal_error(f"the local store could not record the change: {exc}")
        return status, headers, body


# The reads that answer items: most of the bytes a long session's reads return.
_ITEM_READS: Final = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


def _serialized(self: Any, action_result: Any) -> Any:
    """A read's answer as DynamoDB's JSON, written directly: moto's serialiser walks the service model for every
    attribute value (about 1.3 s per MB of items); the answer of these reads is already that JSON but for binary
    values (base64, as DynamoDB sends them). Errors and other actions: moto's serialiser."""
    result = action_result.result
    if not isinstance(result, dict) or self._get_action() not in _ITEM_READS:
        return _ORIGINAL["DynamoHandler.serialized"](self, action_result)
    from moto.dynamodb.models.utilities import dynamo_json_dump  # moto's own JSON of DynamoDB values

    headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
    return 200, headers, dynamo_json_dump(result)


def _streams_call_action(self: Any) -> Any:
    with LOCK:
        return _ORIGINAL["DynamoDBStreamsHandler.call_action"](self)


def _table_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL["Table.__init__"](self, *args, **kwargs)
    self.items = TableItems(self)


def _set_stream_specification(self: Any, spec: Any) -> None:
    _ORIGINAL["Table.set_stream_specification"](self, spec)
    streams.replace_shard(self)


def _table_query(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _ORIGINAL["Table.query"]
    fast = _fast_query(self, *args, **kwargs)
    return original(self, *args, **kwargs) if fast is None else fast


def _fast_query(  # the signature of moto's Table.query
    table: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    projection_expressions: Any,
    index_name: str | None = None,
    consistent_read: bool = False,
    filter_expression: Any = None,
    hash_key_conditions: list[Any] | None = None,
    range_key_conditions: list[Any] | None = None,
    **filter_kwargs: Any,
) -> tuple[list[Any], int, Any] | None:
    items = table.items
    if (
        not isinstance(items, TableItems)
        or not items.has_range
        or hash_key is None
        or filter_kwargs
        or len(hash_key_conditions or ()) > 1
        or len(range_key_conditions or ()) > 1
        or (index_name is not None and index_name not in items.indexed)
    ):
        return None
    if index_name is not None and consistent_read and any(g.name == index_name for g in items.gsis):
        from moto.dynamodb.exceptions import MockValidationException

        raise MockValidationException("Consistent reads are not supported on global secondary indexes")
    args = QueryArgs(hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward, index_name)
    try:
        candidates = storage.ordered_candidates(table, args)
    except UnsupportedQueryError:
        return None
    results, last_evaluated_key = storage.page(table, candidates, limit, index_name)
    scanned = len(results)
    results = copy.deepcopy(results)
    if index_name is not None:
        index = table.get_index(index_name)
        results = [index.project(r) for r in results]
    if filter_expression is not None:
        results = [r for r in results if filter_expression.expr(r)]
    if projection_expressions:
        results = [r.project(projection_expressions) for r in results]
    return results, scanned, last_evaluated_key


def _update_item(self: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
    """moto changes the item in place: save its value first (undo log), check and index it again after, and make one
    stream record of the change (moto writes two for an item it creates)."""
    table = self.get_table(table_name)
    items = table.items
    try:
        hash_key, range_key = self.get_keys_value(table, key)
    except Exception:
        return _ORIGINAL["DynamoDBBackend.update_item"](self, table_name, key, *args, **kwargs)
    if not isinstance(items, TableItems):
        return _ORIGINAL["DynamoDBBackend.update_item"](self, table_name, key, *args, **kwargs)
    before = copy.deepcopy(items.current(hash_key, range_key))
    if storage.RECORDER is not None:
        storage.RECORDER(items, hash_key, range_key, before)
    shard = table.stream_shard
    stream_end = shard.next_sequence_number if isinstance(shard, streams.RetainingStreamShard) else None
    item = _ORIGINAL["DynamoDBBackend.update_item"](self, table_name, key, *args, **kwargs)
    if limits.enabled():
        limits.check_updated_item(item)
    if range_key is not None and items.has_range:
        items[hash_key].reindex(range_key)
    if stream_end is not None and shard.next_sequence_number - stream_end > 1:
        shard.truncate(stream_end)
        shard.add(before, item)
    return item


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's transact_write_items without its copies of the tables: the call's undo log rolls a cancelled
    transaction back (see `_call_action`)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    size = 0  # towards the transaction's 4 MB (strict mode)
    for action in transact_items:
        if len(action) > 1:
            raise TransactWriteSingleOpException
        old_image: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(action.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("UnsupportedQueryError transaction operation")
            table_name = op["TableName"]
            key = _action_key(self, op_type, op)
            target = (str(table_name), str(dict(sorted(key.items()))))
            if target in seen:
                raise MultipleTransactionsException()
            seen.add(target)
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            condition = op.get("ConditionExpression")
            current = self.get_item(table_name, key)
            if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old_image = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=old_image)
            stored = _apply(self, op_type, op, key, condition, names, values)
            if limits.enabled():
                size += limits.action_size(self, op_type, op, stored)
            errors.append((None, None, None))
        except limits.LimitExceededError as e:  # e.g. the item an Update made is too large: a cancellation reason
            errors.append((e.reason, e.reason_message, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), old_image))
        except Exception as e:
            errors.append((type(e).__name__, str(e), old_image))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    if limits.enabled():
        limits.check_transaction_size(size)


def _action_key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: Any, condition: Any, names: Any, values: Any) -> Any:
    """Run an action; the item a Put or an Update stored."""
    conditions = {
        "condition_expression": condition,
        "expression_attribute_names": names,
        "expression_attribute_values": values,
    }
    if op_type == "Put":
        return backend.put_item(op["TableName"], op["Item"], **conditions)
    if op_type == "Delete":
        backend.delete_item(op["TableName"], key, **conditions)
    elif op_type == "Update":
        return backend.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **conditions)
    return None


def _update_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    table = _ORIGINAL["DynamoDBBackend.update_table"](self, name, *args, **kwargs)
    if isinstance(table.items, TableItems):
        table.items.define_indexes()
    return table


def _delete_table(self: Any, name: str) -> Any:
    table = _ORIGINAL["DynamoDBBackend.delete_table"](self, name)
    if isinstance(table.stream_shard, streams.RetainingStreamShard):
        table.stream_shard.closed = True
    return table


def _checked(action: str) -> Callable[[Any], Any]:
    """A DynamoHandler method (`put_item`, ...) that first refuses what is over DynamoDB's limits (strict mode)."""

    def method(self: Any) -> Any:
        original = _ORIGINAL[f"DynamoHandler.{action}"]
        if not limits.enabled():
            return original(self)
        try:
            limits.check_request(self.dynamodb_backend, action, self.body)
            if action != "batch_get_item":
                return original(self)
            unprocessed = limits.cut_batch_get(self.dynamodb_backend, self.body)
            response = original(self)
            for table_name, rest in unprocessed.items():
                response.result["UnprocessedKeys"].setdefault(table_name, {**rest, "Keys": []})["Keys"] += rest["Keys"]
            return response
        except limits.LimitExceededError as exc:
            raise _dynamodb_error(exc) from exc

    method.__name__ = method.__qualname__ = action
    return method


def _dynamodb_error(exc: limits.LimitExceededError) -> Exception:
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException, TransactionCanceledException

    if isinstance(exc, limits.CancelledError):
        reasons = [(r.reason, r.reason_message, None) if r else (None, None, None) for r in exc.reasons]
        return TransactionCanceledException(reasons)
    return DynamodbException(ERROR_TYPE_PREFIX + exc.code, exc.message)


_CHECKED: Final = {action: _checked(action) for action in limits.CHECKED_ACTIONS}


def _item_size(self: Any) -> int:
    """An item's size as DynamoDB measures it (strict mode): what Query, Scan and BatchGetItem cut their pages by."""
    return limits.item_size(self) if limits.enabled() else int(_ORIGINAL["Item.size"](self))


def _set_attribute(self: Any, name: str, value: Any) -> None:
    """moto measures an item its own way, against 405,000 bytes, at every attribute it sets (O(n^2) per item):
    in strict mode `limits` measures it once, DynamoDB's way."""
    if limits.enabled():
        dict.__setitem__(self, name, value)
    else:
        _ORIGINAL["LimitedSizeDict.__setitem__"](self, name, value)


def _untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`__new__` of the models made per request: not added to moto's list of every instance (BaseModel.__new__)."""
    return object.__new__(cls)


_UNTRACKED: Final = staticmethod(_untracked)


def _targets() -> dict[str, tuple[Any, str, Any]]:
    from moto.dynamodb import responses
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.table import StreamRecord, Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    return {
        "Item.__new__": (Item, "__new__", _UNTRACKED),
        "StreamRecord.__new__": (StreamRecord, "__new__", _UNTRACKED),
        "ShardIterator.__new__": (ShardIterator, "__new__", _UNTRACKED),
        "DynamoHandler.call_action": (DynamoHandler, "call_action", _call_action),
        "DynamoHandler.serialized": (DynamoHandler, "serialized", _serialized),
        "DynamoDBStreamsHandler.call_action": (DynamoDBStreamsHandler, "call_action", _streams_call_action),
        "Table.__init__": (Table, "__init__", _table_init),
        "Table.set_stream_specification": (Table, "set_stream_specification", _set_stream_specification),
        "Table.query": (Table, "query", _table_query),
        "DynamoDBBackend.update_item": (DynamoDBBackend, "update_item", _update_item),
        "DynamoDBBackend.transact_write_items": (DynamoDBBackend, "transact_write_items", _transact_write_items),
        "DynamoDBBackend.update_table": (DynamoDBBackend, "update_table", _update_table),
        "DynamoDBBackend.delete_table": (DynamoDBBackend, "delete_table", _delete_table),
        "DynamoDBStreamsBackend.get_shard_iterator": (
            DynamoDBStreamsBackend,
            "get_shard_iterator",
            streams.get_shard_iterator,
        ),
        "DynamoDBStreamsBackend.get_records": (DynamoDBStreamsBackend, "get_records", streams.get_records),
        "Item.size": (Item, "size", _item_size),
        "LimitedSizeDict.__setitem__": (LimitedSizeDict, "__setitem__", _set_attribute),
        "responses.TRANSACTION_MAX_ITEMS": (responses, "TRANSACTION_MAX_ITEMS", limits.MAX_TRANSACTION_ACTIONS),
        **{f"DynamoHandler.{a}": (DynamoHandler, a, method) for a, method in _CHECKED.items()},
    }


class UnsupportedMotoError(RuntimeError):
    """The installed moto is not the one this engine was written against."""


def install() -> None:
    """Patch moto (once per process; tables created before keep moto's own behaviour)."""
    import moto

    with LOCK:
        if _ORIGINAL:
            return
        if not moto.__version__.startswith(SUPPORTED_MOTO):
            raise UnsupportedMotoError(
                f"chat-memory's local DynamoDB engine supports moto {' or '.join(SUPPORTED_MOTO)}x, not "
                f"{moto.__version__}: install the version pyproject.toml pins"
            )
        targets = _targets()
        for name, (owner, attribute, _) in targets.items():
            _ORIGINAL[name] = owner.__dict__.get(attribute, getattr(owner, attribute))
        for owner, attribute, replacement in targets.values():
            setattr(owner, attribute, replacement)
            if attribute == "__new__":
                owner.instances_tracked.clear()


def installed() -> bool:
    return bool(_ORIGINAL)


def mock_dynamodb() -> Any:
    """moto's `mock_aws()` with this engine installed: the in-process DynamoDB of the tests and benchmarks."""
    from moto import mock_aws

    install()
    return mock_aws()
