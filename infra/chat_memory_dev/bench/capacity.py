"""DynamoDB capacity units computed from item sizes, and a recorder that measures them per API call.

moto answers every call with a constant `ConsumedCapacity`, so the benchmarks compute capacity the way DynamoDB
documents it, from the items each call reads and writes:

* **Item size** (`item_size`): the sum of the attribute names' and values' sizes
  (developerguide/CapacityUnitCalculations.html). Names and strings count their UTF-8 bytes; a number counts
  1 byte per 2 significant digits (leading and trailing zeros trimmed) plus 1 byte; binary counts its raw bytes
  (not its base64 text); a Boolean or null counts 1 byte; a list or map counts 3 bytes plus its elements plus
  1 byte per element (a map element also counts its key like an attribute name).
* **Reads** (`read_units`): 4 KB (4,096-byte) units rounded up; an eventually consistent read costs half,
  a transactional read twice a strongly consistent one. GetItem, BatchGetItem and TransactGetItems round each
  item on its own; Query and Scan round the sum of the sizes of all the items they read in one call.
* **Writes** (`write_units`): 1 KB (1,024-byte) units rounded up, at least 1; twice that in a transaction.

* **Secondary indexes** (`IndexSpec.entry_writes`, developerguide/GSI.html "Provisioned throughput
  considerations for global secondary indexes", the same rules for LSIs in LSI.html): a table write costs an
  index nothing unless it changes the item's entry there (an index key attribute, or a projected attribute: with
  ALL any attribute, with KEYS_ONLY only the keys, with INCLUDE the keys and the named attributes). Putting an
  entry (an item newly in the index), updating one (a projected attribute changed) or deleting one (the item
  left the index) is one write of the entry's size (the table's and the index's keys, the projected attributes,
  100 bytes); a changed index key is two (delete the old entry, put the new one). Index writes are not doubled
  in a transaction.

`CapacityRecorder` attaches to a boto3 DynamoDB client (or to a resource or `Table`, through `meta.client`) with
botocore's event hooks and appends one `CallRecord` per API call. It only sees what travels in the request and
the response, so where DynamoDB charges for something it cannot see, the figure is a documented lower bound
(see `CapacityRecorder`). Given an `ImageReader` (a way to read an item that the recorder does not record), it
reads each written item before and after the write and counts index writes exactly by the rules above.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Final, Self

__all__ = [
    "READ_UNIT_BYTES",
    "WRITE_UNIT_BYTES",
    "CallRecord",
    "CallTotals",
    "CapacityRecorder",
    "ImageReader",
    "IndexSpec",
    "attribute_value_size",
    "item_size",
    "number_size",
    "read_units",
    "write_units",
]

READ_UNIT_BYTES = 4096
"""One read unit: a strongly consistent read of up to 4 KB."""
WRITE_UNIT_BYTES = 1024
"""One write unit: a write of up to 1 KB."""

_LIST_OR_MAP_OVERHEAD = 3
_ELEMENT_OVERHEAD = 1


# --- sizes -------------------------------------------------------------------------------------------------------


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def number_size(number: str | int | float | Decimal) -> int:
    """Bytes of a DynamoDB number: 1 byte per two significant digits (rounded up) plus 1 byte.

    Leading and trailing zeros are trimmed, as the documentation says (so 0 is 1 byte, 100 and 1 are 2 bytes,
    123.45 is 4 bytes). DynamoDB calls this size approximate; its internal encoding also depends on where the
    decimal point falls and on the sign, which the documented rule leaves out, and so does this function.
    """
    try:
        value = Decimal(str(number))
    except InvalidOperation as exc:
        raise ValueError(f"not a DynamoDB number: {number!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a DynamoDB number: {number!r}")
    if value.is_zero():
        return 1
    # Not normalize(): it rounds to the context's 28 digits, and DynamoDB numbers have up to 38.
    significant = "".join(map(str, value.as_tuple().digits)).strip("0")
    return math.ceil(len(significant) / 2) + 1


def _binary_size(value: bytes | bytearray | memoryview | str) -> int:
    if isinstance(value, str):
        # The wire form: base64 text. DynamoDB counts the raw bytes it stands for.
        try:
            return len(base64.b64decode(value, validate=True))
        except binascii.Error as exc:
            raise ValueError(f"binary value is not base64: {value[:20]!r}") from exc
    return len(bytes(value))


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's low-level form (`{"S": ...}`, `{"N": ...}`, ...), name excluded.

    Sets (`SS`, `NS`, `BS`) count the sum of their elements' sizes: the documentation gives no overhead for sets.
    """
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type key, got {sorted(value)!r}")
    ((kind, data),) = value.items()
    if kind == "S":
        return _utf8_len(data)
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return _binary_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return _LIST_OR_MAP_OVERHEAD + sum(_ELEMENT_OVERHEAD + attribute_value_size(element) for element in data)
    if kind == "M":
        return _LIST_OR_MAP_OVERHEAD + sum(
            _ELEMENT_OVERHEAD + _utf8_len(name) + attribute_value_size(element) for name, element in data.items()
        )
    if kind == "SS":
        return sum(_utf8_len(element) for element in data)
    if kind == "NS":
        return sum(number_size(element) for element in data)
    if kind == "BS":
        return sum(_binary_size(element) for element in data)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of an item in DynamoDB's low-level form: each attribute's name (UTF-8) plus its value's size."""
    return sum(_utf8_len(name) + attribute_value_size(value) for name, value in item.items())


# --- units -------------------------------------------------------------------------------------------------------


def read_units(total_bytes: int, *, consistent: bool, transactional: bool = False) -> float:
    """Read units for reading `total_bytes` in one rounding: 4 KB units rounded up, at least one.

    Strongly consistent: 1 unit per 4 KB; eventually consistent: half that; transactional (always strongly
    consistent, `consistent` is then ignored): twice that. A read that finds nothing (0 bytes) still costs the
    minimum: 1 unit strongly consistent, 0.5 eventually consistent, 2 transactional.

    Pass one item's size for GetItem/BatchGetItem/TransactGetItems (each item is rounded on its own) and the sum of
    all the items' sizes for one Query or Scan call (rounded once).
    """
    if total_bytes < 0:
        raise ValueError("total_bytes must not be negative")
    units = max(1, math.ceil(total_bytes / READ_UNIT_BYTES))
    if transactional:
        return float(2 * units)
    return float(units) if consistent else units / 2


def write_units(item_bytes: int, *, transactional: bool = False) -> int:
    """Write units for writing one item of `item_bytes`: 1 KB units rounded up, at least one; doubled in a
    transaction (DynamoDB prepares and commits each item)."""
    if item_bytes < 0:
        raise ValueError("item_bytes must not be negative")
    units = max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


# --- records -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One DynamoDB API call as the recorder measured it.

    `bytes_read` / `bytes_written` are the item bytes the units were computed from (for a write, the larger of the
    old and new item when the response shows the old one). `items` counts the items read or written. `error` is the
    error code when DynamoDB answered with an error (units are then what a failed call is documented to cost).
    """

    operation: str
    read_units: float
    write_units: float  # the table's and its indexes' (index_write_units of them)
    bytes_read: int
    bytes_written: int
    items: int
    error: str | None = None
    index_write_units: float = 0.0
    consistent: bool = False  # a strongly consistent read (ConsistentRead, or a transactional read)


@dataclass(frozen=True, slots=True)
class CallTotals:
    """Sums over a run of `CallRecord`s; `calls` counts them per operation."""

    read_units: float = 0.0
    write_units: float = 0.0
    bytes_read: int = 0
    bytes_written: int = 0
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def call_count(self) -> int:
        return sum(self.calls.values())


def _sum_records(records: Iterable[CallRecord]) -> CallTotals:
    reads = writes = 0.0
    bytes_read = bytes_written = 0
    calls: Counter[str] = Counter()
    for record in records:
        reads += record.read_units
        writes += record.write_units
        bytes_read += record.bytes_read
        bytes_written += record.bytes_written
        calls[record.operation] += 1
    return CallTotals(reads, writes, bytes_read, bytes_written, dict(calls))


# --- secondary indexes ---------------------------------------------------------------------------------------

INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to every index entry


@dataclass(frozen=True)
class IndexSpec:
    """A secondary index of a table, for the writes it costs.

    DynamoDB's rules: a table write that puts, changes or removes an item's entry in an index costs one more write
    (of the entry's size: the table's key, the index's key, the projected attributes and 100 bytes), two when the
    index key changes; an item without the index's key attributes is not in the index and costs nothing there.
    """

    name: str
    table_key: tuple[str, ...]
    index_key: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()

    def entry(self, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """`item`'s entry in this index (the attributes it holds), or None when the item is not in it (absent, or
        without the index's key: a sparse index)."""
        if item is None or not all(name in item for name in self.index_key):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = {*self.table_key, *self.index_key, *(self.include if self.projection == "INCLUDE" else ())}
        return {k: v for k, v in item.items() if k in names}

    def entry_size(self, item: Mapping[str, Any]) -> int | None:
        """The size of `item`'s entry in this index, or None when the item is not in it (a sparse index)."""
        entry = self.entry(item)
        return None if entry is None else item_size(entry) + INDEX_ENTRY_OVERHEAD

    def entry_writes(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> int:
        """Write units this index costs when a write turns item `old` into `new` (None: no item)."""
        before, after = self.entry(old), self.entry(new)
        if before is None and after is None:
            return 0
        if before is None or after is None:  # put into the index, or deleted from it
            return write_units(item_size(before or after or {}) + INDEX_ENTRY_OVERHEAD)
        if any(before.get(name) != after.get(name) for name in self.index_key):  # moved: delete + put
            return write_units(item_size(before) + INDEX_ENTRY_OVERHEAD) + write_units(
                item_size(after) + INDEX_ENTRY_OVERHEAD
            )
        return write_units(item_size(after) + INDEX_ENTRY_OVERHEAD) if before != after else 0


def indexes_from_table_properties(properties: Mapping[str, Any]) -> tuple[IndexSpec, ...]:
    """The IndexSpecs of a CloudFormation `AWS::DynamoDB::Table`'s properties (LSIs and GSIs)."""
    table_key = tuple(k["AttributeName"] for k in properties["KeySchema"])
    specs: list[IndexSpec] = []
    for index in [*properties.get("LocalSecondaryIndexes", []), *properties.get("GlobalSecondaryIndexes", [])]:
        projection = index.get("Projection", {})
        specs.append(
            IndexSpec(
                name=index["IndexName"],
                table_key=table_key,
                index_key=tuple(k["AttributeName"] for k in index["KeySchema"]),
                projection=projection.get("ProjectionType", "ALL"),
                include=tuple(projection.get("NonKeyAttributes", [])),
            )
        )
    return tuple(specs)


# --- per-operation accounting ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    read_units: float = 0.0
    write_units: float = 0.0
    bytes_read: int = 0
    bytes_written: int = 0
    items: int = 0
    index_write_units: int = 0

    def read(self, size: int, *, consistent: bool, transactional: bool = False, found: bool = True) -> None:
        self.read_units += read_units(size, consistent=consistent, transactional=transactional)
        self.bytes_read += size
        self.items += int(found)

    def write(self, size: int, *, transactional: bool = False) -> None:
        self.write_units += write_units(size, transactional=transactional)
        self.bytes_written += size
        self.items += 1

    def put_into_indexes(self, item: Mapping[str, Any], indexes: Sequence[IndexSpec]) -> None:
        """The index writes of putting `item` when the item before it is unknown (no `ImageReader`): as if each
        entry were new or changed, one write each (an upper bound: an unchanged entry costs nothing). Counted at
        the standard price, also inside a transaction (DynamoDB's documentation names no doubling)."""
        for index in indexes:
            entry = index.entry_size(item)
            if entry is not None:
                self.index_write_units += write_units(entry)


_UPDATE_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def _top_level_actions(clause: str) -> list[str]:
    """An update clause's actions: split at the commas outside parentheses (`list_append(a, :b)` is one)."""
    actions: list[str] = []
    depth = 0
    current: list[str] = []
    for char in clause:
        if char == "," and depth == 0:
            actions.append("".join(current))
            current = []
            continue
        depth += (char == "(") - (char == ")")
        current.append(char)
    actions.append("".join(current))
    return [action.strip() for action in actions if action.strip()]


def _updated_names(expression: str, names: Mapping[str, str]) -> set[str]:
    """The top-level attributes an update expression's SET and ADD actions write (`#n` placeholders resolved)."""
    parts = _UPDATE_CLAUSE.split(expression)
    written: set[str] = set()
    for keyword, clause in zip(parts[1::2], parts[2::2], strict=True):
        if keyword.upper() not in ("SET", "ADD"):
            continue
        for action in _top_level_actions(clause):
            target = action.split("=", 1)[0] if keyword.upper() == "SET" else action.split(None, 1)[0]
            top = re.split(r"[.\[]", target.strip(), maxsplit=1)[0].strip()
            written.add(names.get(top, top))
    return written


def _update_estimate(request: Mapping[str, Any]) -> int:
    """Size of the item an update writes, as far as the request shows it: the key; the names of the top-level
    attributes that the update expression's SET and ADD actions write; every value the expressions use
    (`ExpressionAttributeValues`); and each legacy `AttributeUpdates` name and value.

    Attributes the item already had and the update leaves alone are invisible here, so this is a lower bound for
    an update of an existing item; it is exact for an update that writes every non-key attribute whole with
    values used once (LangChain's `SET History = :h`), and it overcounts values used only in a condition."""
    key = request.get("Key", {})
    size = item_size(key)
    names = request.get("ExpressionAttributeNames", {})
    written = _updated_names(request.get("UpdateExpression", ""), names) - set(key)
    size += sum(_utf8_len(name) for name in written)
    size += sum(attribute_value_size(value) for value in request.get("ExpressionAttributeValues", {}).values())
    for name, update in request.get("AttributeUpdates", {}).items():
        size += _utf8_len(name)
        if "Value" in update:
            size += attribute_value_size(update["Value"])
    return size


def _update_size(request: Mapping[str, Any], response: Mapping[str, Any]) -> int:
    returned = response.get("Attributes")
    return_values = request.get("ReturnValues", "NONE")
    if returned is not None and return_values == "ALL_NEW":
        return item_size(returned)
    estimate = _update_estimate(request)
    if returned is not None and return_values == "ALL_OLD":
        return max(item_size(returned), estimate)
    return estimate


_Indexes = Mapping[str, Sequence[IndexSpec]]  # a table's secondary indexes, by table name


def _account(
    operation: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    indexes: _Indexes | None = None,
) -> _Tally:
    tally = _Tally()
    accountant = _ACCOUNTANTS.get(operation)
    if accountant is not None:  # any other operation (control plane, PartiQL) costs nothing here
        accountant(tally, request, response, indexes or {})
    return tally


def _get_item(tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes) -> None:
    found = response.get("Item")
    consistent = bool(request.get("ConsistentRead", False))
    tally.read(item_size(found or {}), consistent=consistent, found=found is not None)


def _batch_get_item(tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes) -> None:
    responses = response.get("Responses", {})
    unprocessed = response.get("UnprocessedKeys", {})
    for table, spec in request.get("RequestItems", {}).items():
        table_consistent = bool(spec.get("ConsistentRead", False))
        returned = responses.get(table, [])
        for item in returned:
            tally.read(item_size(item), consistent=table_consistent)
        # Keys that were processed but found nothing still cost the minimum read each.
        left = len(unprocessed.get(table, {}).get("Keys", []))
        for _ in range(max(0, len(spec.get("Keys", [])) - left - len(returned))):
            tally.read(0, consistent=table_consistent, found=False)


def _query_or_scan(tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes) -> None:
    # The sum of the items is rounded up once, not item by item.
    items = response.get("Items", [])
    total = sum(item_size(item) for item in items)
    tally.read_units = read_units(total, consistent=bool(request.get("ConsistentRead", False)))
    tally.bytes_read = total
    tally.items = len(items)


def _transact_get_items(
    tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes
) -> None:
    for entry in response.get("Responses", []):
        found = entry.get("Item")
        tally.read(item_size(found or {}), consistent=True, transactional=True, found=found is not None)


def _put_item(tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes) -> None:
    size = item_size(request.get("Item", {}))
    old = response.get("Attributes")
    tally.write(max(size, item_size(old)) if old is not None else size)
    tally.put_into_indexes(request.get("Item", {}), indexes.get(request.get("TableName", ""), ()))


def _update_item(tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes) -> None:
    tally.write(_update_size(request, response))


def _delete_item(tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes) -> None:
    old = response.get("Attributes")
    tally.write(item_size(old) if old is not None else 0)


def _batch_write_item(
    tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes
) -> None:
    unprocessed = response.get("UnprocessedItems", {})
    for table, requests in request.get("RequestItems", {}).items():
        not_done = list(unprocessed.get(table, []))
        for write in requests:
            if write in not_done:
                not_done.remove(write)  # not processed, not charged
            elif "PutRequest" in write:
                tally.write(item_size(write["PutRequest"].get("Item", {})))
                tally.put_into_indexes(write["PutRequest"].get("Item", {}), indexes.get(table, ()))
            else:
                tally.write(0)  # a delete: the deleted item's size is not in the response


def _transact_write_items(
    tally: _Tally, request: Mapping[str, Any], response: Mapping[str, Any], indexes: _Indexes
) -> None:
    for action in request.get("TransactItems", []):
        if "Put" in action:
            put = action["Put"]
            tally.write(item_size(put.get("Item", {})), transactional=True)
            tally.put_into_indexes(put.get("Item", {}), indexes.get(put.get("TableName", ""), ()))
        elif "Update" in action:
            tally.write(_update_estimate(action["Update"]), transactional=True)
        elif "Delete" in action:
            tally.write(0, transactional=True)
        elif "ConditionCheck" in action:
            tally.write_units += write_units(item_size(action["ConditionCheck"].get("Key", {})), transactional=True)


_ACCOUNTANTS: Final[Mapping[str, Callable[[_Tally, Mapping[str, Any], Mapping[str, Any], _Indexes], None]]] = {
    "GetItem": _get_item,
    "BatchGetItem": _batch_get_item,
    "Query": _query_or_scan,
    "Scan": _query_or_scan,
    "TransactGetItems": _transact_get_items,
    "PutItem": _put_item,
    "UpdateItem": _update_item,
    "DeleteItem": _delete_item,
    "BatchWriteItem": _batch_write_item,
    "TransactWriteItems": _transact_write_items,
}


_SINGLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


def _account_error(operation: str, code: str, response: Mapping[str, Any]) -> _Tally:
    """A failed conditional write still costs writes: the existing item's size (shown when the request set
    ReturnValuesOnConditionCheckFailure=ALL_OLD), else the minimum of 1. Every other error is recorded at 0."""
    tally = _Tally()
    if operation in _SINGLE_WRITES and code == "ConditionalCheckFailedException":
        existing = response.get("Item")
        tally.write_units = write_units(item_size(existing) if existing is not None else 0)
    return tally


# --- item images (exact index writes) -------------------------------------------------------------------------

ImageReader = Callable[[str, Mapping[str, Any]], Mapping[str, Any] | None]
"""Reads one item, (table name, key) -> the item or None, through a client the recorder is not attached to."""

_WRITES: Final = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_Touched = dict[tuple[str, str], tuple[str, dict[str, Any]]]  # (table, key as text) -> (table, key)


def _keyed(table: str, key: Mapping[str, Any], touched: _Touched) -> None:
    touched[(table, repr(sorted(key.items())))] = (table, dict(key))


def _touched_items(operation: str, request: Mapping[str, Any], indexes: _Indexes) -> _Touched:
    """The (table, key) of every item a write request may change, on tables that have secondary indexes."""
    touched: _Touched = {}

    def add(table: str, item_or_key: Mapping[str, Any]) -> None:
        if indexes.get(table):
            names = indexes[table][0].table_key
            _keyed(table, {n: item_or_key[n] for n in names if n in item_or_key}, touched)

    if operation == "PutItem":
        add(request.get("TableName", ""), request.get("Item", {}))
    elif operation in ("UpdateItem", "DeleteItem"):
        add(request.get("TableName", ""), request.get("Key", {}))
    elif operation == "BatchWriteItem":
        for table, writes in request.get("RequestItems", {}).items():
            for write in writes:
                put, delete = write.get("PutRequest"), write.get("DeleteRequest")
                add(table, put["Item"] if put else delete["Key"])
    elif operation == "TransactWriteItems":
        for action in request.get("TransactItems", []):
            for kind, body in action.items():
                if kind in ("Put", "Update", "Delete"):
                    add(body.get("TableName", ""), body.get("Item") or body.get("Key", {}))
    return touched


def _index_writes(
    before: Mapping[tuple[str, str], Mapping[str, Any] | None],
    touched: _Touched,
    reader: ImageReader,
    indexes: _Indexes,
) -> int:
    """Index write units of a successful write, from each touched item's images before and after it."""
    units = 0
    for slot, (table, key) in touched.items():
        after = reader(table, key)
        units += sum(index.entry_writes(before[slot], after) for index in indexes.get(table, ()))
    return units


# --- the recorder ------------------------------------------------------------------------------------------------


def _low_level_client(target: Any) -> Any:
    """The botocore client behind a client, a `boto3.resource("dynamodb")` or one of its `Table`s."""
    meta = getattr(target, "meta", None)
    client = getattr(meta, "client", None)
    if client is not None:
        return client
    if meta is not None and hasattr(meta, "events") and hasattr(meta, "service_model"):
        return target
    raise TypeError(f"not a boto3 DynamoDB client, resource or table: {target!r}")


def _strongly_consistent(operation: str, request: Mapping[str, Any]) -> bool:
    if operation == "TransactGetItems":
        return True
    if operation == "BatchGetItem":
        return any(spec.get("ConsistentRead") for spec in request.get("RequestItems", {}).values())
    return bool(request.get("ConsistentRead"))


class CapacityRecorder:
    """Records the DynamoDB capacity of every call made through the clients it is attached to.

    Hooks (botocore's event system, registered with unique ids and removed by `detach`):

    * `before-parameter-build.dynamodb`, registered last, sees the request. It runs after boto3's resource layer
      has turned Python values into low-level attribute values (`provide-client-params`, which fires before that,
      would still see a `Table`'s Python values), so both a client's and a `Table`'s calls are measured alike.
    * `after-call.dynamodb`, registered first, sees the parsed response before the resource layer turns it back
      into Python values, and appends the `CallRecord`. It also fires for error responses.

    Units come only from the items in the request and response (`ConsumedCapacity` is ignored: moto's is a
    constant). What a call is charged for and the recorder cannot see makes its figure a lower bound:

    * Reads with a `ProjectionExpression` or `AttributesToGet`: DynamoDB charges the whole item, the recorder
      counts the returned attributes. Query/Scan with a filter: DynamoDB charges every item it evaluated, the
      recorder counts the items returned (and `Select=COUNT` returns none, so costs the minimum).
    * PutItem replacing an item: DynamoDB charges the larger of the old and new item; the old one counts only when
      the response carries it (`ReturnValues=ALL_OLD`). The same holds for Put actions in transactions.
    * UpdateItem: the larger of the item before and after. With `ReturnValues=ALL_NEW` the new item is measured
      exactly; otherwise the size is estimated from the key, the attribute names SET/ADD write and the update's
      values (`_update_estimate`; exact for LangChain's whole-history `SET History = :h` when the history grows),
      and with `ALL_OLD` the old item counts too. Update actions in transactions use the same estimate.
    * DeleteItem: the deleted item's size when `ReturnValues=ALL_OLD` shows it, else the 1-unit minimum; deletes in
      BatchWriteItem and TransactWriteItems always count the minimum.
    * TransactWriteItems: every action at twice a write; a ConditionCheck is counted as a transactional write of
      its key's size (2 units minimum), as the checked item itself is not in the request or response.
    * BatchGetItem: keys processed but not found cost the minimum read each; unprocessed keys and unprocessed batch
      writes cost nothing.
    * A failed conditional PutItem/UpdateItem/DeleteItem costs the existing item's size when the error carries it,
      else 1 unit; other errors and calls that never reached DynamoDB (no `after-call`) record 0 units.

    Control-plane calls (CreateTable, DescribeTable, ...) are recorded with 0 units so call counts stay complete.
    PartiQL calls (ExecuteStatement, ...) are not measured either: 0 units.

    Thread-safe: calls from several threads append under a lock.
    """

    def __init__(
        self, indexes: Mapping[str, Sequence[IndexSpec]] | None = None, reader: ImageReader | None = None
    ) -> None:
        """`indexes`: the secondary indexes of each table (by name) whose writes the recorder should add.
        `reader`: reads an item without being recorded; with it, index writes are exact (each written item is
        read before and after the write), without it every put counts its entries as new (an upper bound) and
        updates and deletes count none (a lower bound). Only for one writer at a time: a concurrent write
        between the reads would be counted as this one's."""
        self._indexes = dict(indexes or {})
        self._reader = reader
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()
        self._clients: list[Any] = []
        self._id = f"chat-memory-capacity-{id(self):x}"
        self._context_key = f"_{self._id}"

    # attach / detach

    def attach(self, client: Any) -> Self:
        """Start recording the calls of `client` (a DynamoDB client, resource or `Table`). Idempotent."""
        low_level = _low_level_client(client)
        if any(known is low_level for known in self._clients):
            return self
        events = low_level.meta.events
        events.register_last("before-parameter-build.dynamodb", self._on_request, unique_id=f"{self._id}-request")
        events.register_first("after-call.dynamodb", self._on_response, unique_id=f"{self._id}-response")
        self._clients.append(low_level)
        return self

    def detach(self) -> None:
        """Stop recording on every attached client. The records stay."""
        for low_level in self._clients:
            events = low_level.meta.events
            events.unregister("before-parameter-build.dynamodb", unique_id=f"{self._id}-request")
            events.unregister("after-call.dynamodb", unique_id=f"{self._id}-response")
        self._clients.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.detach()

    # records

    @property
    def records(self) -> list[CallRecord]:
        """A copy of the records so far, in call order. `len(recorder.records)` is a mark for `totals(since=...)`."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def totals(self, since: int = 0) -> CallTotals:
        """Sums over the records from index `since` on."""
        with self._lock:
            return _sum_records(self._records[since:])

    # hooks

    def _on_request(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context[self._context_key] = params
        if self._reader is not None and model.name in _WRITES:
            touched = _touched_items(model.name, params, self._indexes)
            before = {slot: self._reader(table, key) for slot, (table, key) in touched.items()}
            context[f"{self._context_key}-images"] = (touched, before)

    def _on_response(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        operation: str = model.name
        request: Mapping[str, Any] = context.pop(self._context_key, None) or {}
        images = context.pop(f"{self._context_key}-images", None)
        error = parsed.get("Error", {}).get("Code") if "Error" in parsed else None
        if error:
            tally = _account_error(operation, str(error), parsed)
        else:
            tally = _account(operation, request, parsed, self._indexes)
            if images is not None and self._reader is not None:
                tally.index_write_units = _index_writes(images[1], images[0], self._reader, self._indexes)
        record = CallRecord(
            operation=operation,
            read_units=tally.read_units,
            write_units=float(tally.write_units + tally.index_write_units),
            index_write_units=float(tally.index_write_units),
            bytes_read=tally.bytes_read,
            bytes_written=tally.bytes_written,
            items=tally.items,
            error=str(error) if error else None,
            consistent=_strongly_consistent(operation, request),
        )
        with self._lock:
            self._records.append(record)
