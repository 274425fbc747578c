"""Ordered item storage for moto's DynamoDB tables, so that a Query reads only what it returns.

moto keeps a table's items in `table.items`, a dict of partitions (hash key -> {range key -> Item}), and answers
every Query by walking and sorting *every item of the table* (moto 5.2, `Table.query`). DynamoDB reads a
partition's items in sort-key order from where the key condition starts: the cost of a Query is that of what it
returns. `TableItems` and `Partition` are drop-in dicts that also keep each partition's sort keys sorted and each
secondary index's entries sorted by index key, updated on every write, so `query()` below finds its first item
with a binary search, as DynamoDB does.

They also report every change of an item (its value before) to `RECORDER` while a call runs, which the engine
uses for its undo log (atomic calls) and for the journal of a durable local store; and, in a table with a local
secondary index, keep each partition's item collection size as it changes (DynamoDB's 10 GB, `limits.py`).
"""

from __future__ import annotations

import base64
import copy
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from chat_memory_dev.localdb import limits

Native = str | Decimal | bytes
# (index sort key or NO_RANGE, table hash key, table sort key): an index's order, as DynamoDB's
Entry = tuple[Any, Native, Native]
# Called with (table items, hash key, range key or None, the item's value before the change or None).
Recorder = Callable[["TableItems", Any, Any, Any], None]

RECORDER: Recorder | None = None
NO_RANGE: Final = 0  # the sort position of every entry of an index without a sort key
RESULT_SIZE_LIMIT: Final = 1_000_000  # a Query page holds at most 1 MB (moto's own constant, DynamoDB's rule)


def native(value: Any, expected_type: str | None = None) -> Native | None:
    """A key attribute's value as Python orders it like DynamoDB does (UTF-8 bytes order is code point order;
    numbers by value; binaries as unsigned bytes); None for a value of another type or no value."""
    if value is None or (expected_type is not None and value.type != expected_type):
        return None
    if value.type == "S":
        return str(value.value)
    if value.type == "N":
        return Decimal(value.value)
    if value.type == "B":  # moto keeps binaries as their base64 text
        raw = value.value
        return raw if isinstance(raw, bytes) else base64.b64decode(raw)
    return None


@dataclass(frozen=True, slots=True)
class IndexShape:
    name: str
    hash_attr: str
    hash_type: str
    range_attr: str | None
    range_type: str | None
    projected: frozenset[str] | None = None  # the attributes an entry holds (None: all)


def _projected(index: Any) -> frozenset[str] | None:
    projection = index.projection or {}
    if projection.get("ProjectionType", "ALL") == "ALL":
        return None
    keys = [*index.table_key_attrs, *(k["AttributeName"] for k in index.schema)]
    return frozenset([*keys, *projection.get("NonKeyAttributes", [])])


def _shape(index: Any, types: dict[str, str]) -> IndexShape | None:
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1:
        return None  # multi-attribute keys: left to moto's own query
    range_attr = ranges[0] if ranges else None
    range_type = types.get(range_attr) if range_attr else None
    return IndexShape(index.name, hashes[0], types.get(hashes[0], "S"), range_attr, range_type, _projected(index))


class TableItems(dict[Any, Any]):
    """`table.items`: hash key -> Partition (tables with a sort key) or Item (hash-only tables)."""

    def __init__(self, table: Any) -> None:
        super().__init__()
        self.table = table
        self.has_range = table.range_key_attr is not None
        self.gsis: list[IndexShape] = []
        self.lsis: list[IndexShape] = []
        self.gsi_entries: dict[str, dict[Native, list[Entry]]] = {}
        self.partition_keys: dict[Native, Any] = {}  # native hash key -> the DynamoType the partition is keyed by
        self.define_indexes()

    def define_indexes(self) -> None:
        """(Re)read the table's index definitions and index every item again (after UpdateTable)."""
        types = {a["AttributeName"]: a["AttributeType"] for a in self.table.attr}
        self.lsis = [s for s in (_shape(i, types) for i in self.table.indexes or []) if s]
        self.gsis = [s for s in (_shape(i, types) for i in self.table.global_indexes or []) if s]
        self.indexed = {s.name for s in self.lsis + self.gsis}
        self.gsi_entries = {s.name: {} for s in self.gsis}
        if self.has_range:
            for partition in dict.values(self):
                partition.reindex_all()

    def __missing__(self, hash_key: Any) -> Any:
        # moto reads `items[hash][range]` for lookups too: a missing partition is handed out unattached and joins
        # the table only when something is stored in it, so misses leave nothing behind.
        if not self.has_range:
            raise KeyError(hash_key)
        return Partition(self, hash_key)

    def __setitem__(self, hash_key: Any, value: Any) -> None:
        if isinstance(value, Partition):
            self.partition_keys[value.hash_native] = hash_key
        elif RECORDER is not None:  # an item of a hash-only table
            RECORDER(self, hash_key, None, dict.get(self, hash_key))
        dict.__setitem__(self, hash_key, value)

    def pop(self, hash_key: Any, *default: Any) -> Any:
        if self.has_range:
            raise NotImplementedError("a partition is emptied item by item")
        if hash_key in self and RECORDER is not None:
            RECORDER(self, hash_key, None, dict.get(self, hash_key))
        return dict.pop(self, hash_key, *default)

    def __delitem__(self, hash_key: Any) -> None:
        self.pop(hash_key)

    def restore(self, hash_key: Any, range_key: Any, item: Any) -> None:
        """Put back `item` (None: no item) at a key, as the undo log does; reports nothing."""
        if not self.has_range:
            if item is None:
                dict.pop(self, hash_key, None)
            else:
                dict.__setitem__(self, hash_key, item)
            return
        partition = self[hash_key]
        if item is None:
            partition.pop(range_key, None)
        else:
            partition[range_key] = item

    def current(self, hash_key: Any, range_key: Any) -> Any:
        """The stored item at a key, or None (never creates a partition)."""
        held = dict.get(self, hash_key)
        if held is None or not self.has_range:
            return held
        return dict.get(held, range_key)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # moto copies tables for backups: a plain copy is enough there (moto's own query serves it).
        from collections import defaultdict

        plain: defaultdict[Any, Any] = defaultdict(dict)
        for key, value in dict.items(self):
            plain[copy.deepcopy(key, memo)] = copy.deepcopy(dict(value) if self.has_range else value, memo)
        return plain

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("items are written one at a time")

    def clear(self) -> None:
        raise NotImplementedError("items are written one at a time")


class Partition(dict[Any, Any]):
    """One partition of a table with a sort key: range key -> Item, with its sort keys and index entries ordered."""

    def __init__(self, owner: TableItems, hash_key: Any) -> None:
        super().__init__()
        self.owner = owner
        self.hash_key = hash_key
        hash_native = native(hash_key)
        assert hash_native is not None, "a table's hash key is a string, a number or a binary"
        self.hash_native: Native = hash_native
        self.sorted_keys: list[Native] = []
        self.range_keys: dict[Native, Any] = {}  # native -> the DynamoType the item is keyed by
        self.lsi_entries: dict[str, list[tuple[Native, Native]]] = {s.name: [] for s in owner.lsis}
        self._contributions: dict[Native, list[tuple[str, Native | None, Any]]] = {}
        self.collection_bytes = 0  # with a local secondary index: its items' and their entries' sizes
        self._collection: dict[Native, int] = {}

    def __setitem__(self, range_key: Any, item: Any) -> None:
        key = native(range_key)
        assert key is not None, "a table's sort key is a string, a number or a binary"
        size = self._collection_size(key, item)
        if dict.get(self.owner, self.hash_key) is not self:
            dict.__setitem__(self.owner, self.hash_key, self)
            self.owner.partition_keys[self.hash_native] = self.hash_key
        old = dict.get(self, range_key)
        if RECORDER is not None:
            RECORDER(self.owner, self.hash_key, range_key, old)
        if old is None and key not in self.range_keys:
            insort(self.sorted_keys, key)
            self.range_keys[key] = range_key
        dict.__setitem__(self, range_key, item)
        self._count(key, size)
        self._reindex(key, item)

    def pop(self, range_key: Any, *default: Any) -> Any:
        if range_key not in self:
            if default:
                return default[0]
            raise KeyError(range_key)
        old = dict.get(self, range_key)
        if RECORDER is not None:
            RECORDER(self.owner, self.hash_key, range_key, old)
        key = native(range_key)
        assert key is not None
        del self.sorted_keys[bisect_left(self.sorted_keys, key)]
        del self.range_keys[key]
        self._unindex(key)
        self._count(key, None)
        return dict.pop(self, range_key)

    def __delitem__(self, range_key: Any) -> None:
        self.pop(range_key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("items are written one at a time")

    def clear(self) -> None:
        raise NotImplementedError("items are written one at a time")

    def setdefault(self, *args: Any) -> Any:
        raise NotImplementedError("items are written one at a time")

    def reindex(self, range_key: Any) -> None:
        """Index an item again after moto changed it in place (UpdateItem)."""
        key = native(range_key)
        item = dict.get(self, range_key)
        if key is not None and item is not None:
            self._count(key, self._collection_size(key, item))
            self._reindex(key, item)

    def reindex_all(self) -> None:
        self.lsi_entries = {s.name: [] for s in self.owner.lsis}
        self._contributions.clear()
        self._collection.clear()
        self.collection_bytes = 0
        for key, range_key in self.range_keys.items():
            item = dict.__getitem__(self, range_key)
            self._count(key, self._collection_size(key, item, check=False))
            self._reindex(key, item)

    def item_at(self, key: Native) -> Any:
        return dict.__getitem__(self, self.range_keys[key])

    # -- the item collection's size (tables with a local secondary index)

    def _collection_size(self, key: Native, item: Any, *, check: bool = True) -> int | None:
        """What the item at `key` adds to the collection: itself and its index entries (None: no LSI). A write in a
        call (not the undo log's restores, nor loads) that grows a collection past the limit is refused: a put before
        it changes anything, an update (moto changed the item in place) for the undo log to put back."""
        if not self.owner.lsis:
            return None
        attrs = item.attrs
        own = limits.attributes_size(attrs)
        size = own
        for lsi in self.owner.lsis:
            if lsi.range_attr not in attrs:
                continue  # a sparse index: no entry
            projected = lsi.projected
            size += own if projected is None else limits.attributes_size({n: attrs[n] for n in projected if n in attrs})
        growth = size - self._collection.get(key, 0)
        if (
            check
            and growth > 0
            and RECORDER is not None
            and self.collection_bytes + growth > limits.ITEM_COLLECTION_BYTES
            and limits.enabled()
        ):
            raise limits.collection_too_large()
        return size

    def _count(self, key: Native, size: int | None) -> None:
        self.collection_bytes += (size or 0) - self._collection.pop(key, 0)
        if size is not None:
            self._collection[key] = size

    # -- index entries

    def _reindex(self, key: Native, item: Any) -> None:
        self._unindex(key)
        contributed: list[tuple[str, Native | None, Any]] = []
        attrs = item.attrs
        for lsi in self.owner.lsis:
            value = native(attrs.get(lsi.range_attr), lsi.range_type)
            if value is not None:
                entry = (value, key)
                insort(self.lsi_entries[lsi.name], entry)
                contributed.append((lsi.name, None, entry))
        for gsi in self.owner.gsis:
            bucket = native(attrs.get(gsi.hash_attr), gsi.hash_type)
            if bucket is None:
                continue
            if gsi.range_attr is None:
                sort: Any = NO_RANGE
            else:
                sort = native(attrs.get(gsi.range_attr), gsi.range_type)
                if sort is None:
                    continue
            gsi_entry: Entry = (sort, self.hash_native, key)
            insort(self.owner.gsi_entries[gsi.name].setdefault(bucket, []), gsi_entry)
            contributed.append((gsi.name, bucket, gsi_entry))
        if contributed:
            self._contributions[key] = contributed

    def _unindex(self, key: Native) -> None:
        for name, bucket, entry in self._contributions.pop(key, ()):
            entries: list[Any] = self.lsi_entries[name] if bucket is None else self.owner.gsi_entries[name][bucket]
            del entries[bisect_left(entries, entry)]
            if bucket is not None and not entries:
                del self.owner.gsi_entries[name][bucket]

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in dict.items(self)}


# ---------------------------------------------------------------------------------------------------- querying


def _prefix_end(prefix: Native) -> Native | None:
    """The smallest value greater than every value that starts with `prefix` (None: there is none)."""
    if isinstance(prefix, str):
        for i in range(len(prefix) - 1, -1, -1):
            if ord(prefix[i]) < 0x10FFFF:
                return prefix[:i] + chr(ord(prefix[i]) + 1)
        return None
    if isinstance(prefix, bytes):
        for i in range(len(prefix) - 1, -1, -1):
            if prefix[i] < 0xFF:
                return prefix[:i] + bytes([prefix[i] + 1])
        return None
    raise TypeError("begins_with takes a string or a binary")


def key_range(sorted_values: list[Any], comparison: str | None, bounds: list[Native], key: Any = None) -> range:
    """The positions in `sorted_values` whose sort key meets a key condition (`key` extracts the sort key)."""
    lo, hi = 0, len(sorted_values)
    if comparison is None:
        return range(lo, hi)
    op = comparison.upper()

    def left(v: Native) -> int:
        return bisect_left(sorted_values, v, key=key)

    def right(v: Native) -> int:
        return bisect_right(sorted_values, v, key=key)

    if op in ("=", "EQ"):
        lo, hi = left(bounds[0]), right(bounds[0])
    elif op in ("<", "LT"):
        hi = left(bounds[0])
    elif op in ("<=", "LE"):
        hi = right(bounds[0])
    elif op in (">", "GT"):
        lo = right(bounds[0])
    elif op in (">=", "GE"):
        lo = left(bounds[0])
    elif op == "BETWEEN":
        lo, hi = left(bounds[0]), right(bounds[1])
    elif op == "BEGINS_WITH":
        end = _prefix_end(bounds[0])
        lo, hi = left(bounds[0]), (left(end) if end is not None else hi)
    else:
        raise ValueError(f"not a key condition: {comparison}")
    return range(lo, max(lo, hi))


class UnsupportedQueryError(Exception):
    """A query this storage does not answer itself: moto's own query answers it."""


@dataclass
class QueryArgs:
    hash_key: Any
    range_comparison: str | None
    range_objs: list[Any]
    limit: int | None
    exclusive_start_key: dict[str, Any] | None
    scan_index_forward: bool
    index_name: str | None


def _bounds(values: list[Any], expected_type: str | None) -> list[Native]:
    natives = [native(v, expected_type) for v in values]
    if any(n is None for n in natives):
        raise UnsupportedQueryError("a key condition of another type than the key")
    return [n for n in natives if n is not None]


def ordered_candidates(table: Any, args: QueryArgs) -> Iterator[Any]:
    """The items a Query reads, in the order it reads them, starting after ExclusiveStartKey (not yet limited)."""
    items: TableItems = table.items
    esk = args.exclusive_start_key
    if args.index_name is None:
        return _table_candidates(table, items, args, esk)
    shape = next((s for s in items.lsis + items.gsis if s.name == args.index_name), None)
    if shape is None:
        raise UnsupportedQueryError(f"index {args.index_name} is not ordered here")
    if shape in items.lsis:
        return _lsi_candidates(table, items, shape, args, esk)
    return _gsi_candidates(table, items, shape, args, esk)


def _window(positions: range, forward: bool, after: int | None, before: int | None) -> range:
    lo, hi = positions.start, positions.stop
    if after is not None:
        lo = max(lo, after)
    if before is not None:
        hi = min(hi, before)
    if hi <= lo:
        return range(0)
    return range(lo, hi) if forward else range(hi - 1, lo - 1, -1)


def _table_candidates(table: Any, items: TableItems, args: QueryArgs, esk: dict[str, Any] | None) -> Iterator[Any]:
    partition = dict.get(items, args.hash_key)
    if partition is None:
        return iter(())
    keys = partition.sorted_keys
    positions = key_range(keys, args.range_comparison, _bounds(args.range_objs, table.range_key_type))
    after = before = None
    if esk is not None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        start = native(DynamoType(esk[table.range_key_attr]), table.range_key_type)
        if start is None:
            raise UnsupportedQueryError("ExclusiveStartKey of another type")
        if args.scan_index_forward:
            after = bisect_right(keys, start)
        else:
            before = bisect_left(keys, start)
    return (partition.item_at(keys[i]) for i in _window(positions, args.scan_index_forward, after, before))


def _start_entry(table: Any, shape: IndexShape, esk: dict[str, Any], *, is_global: bool) -> tuple[Any, ...]:
    """ExclusiveStartKey as an index entry: the index's sort key, then (a GSI) the table's hash and sort keys."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    parts: list[Any] = []
    if shape.range_attr is not None:
        parts.append(native(DynamoType(esk[shape.range_attr]), shape.range_type))
    else:
        parts.append(NO_RANGE)
    if is_global:
        parts.append(native(DynamoType(esk[table.hash_key_attr]), table.hash_key_type))
    parts.append(native(DynamoType(esk[table.range_key_attr]), table.range_key_type))
    if any(p is None for p in parts):
        raise UnsupportedQueryError("ExclusiveStartKey of another type")
    return tuple(parts)


def _index_window(
    table: Any, shape: IndexShape, entries: list[Any], args: QueryArgs, esk: dict[str, Any] | None, *, is_global: bool
) -> range:
    """The positions of `entries` (an index's, in its order) a Query reads, in the order it reads them."""
    positions = key_range(
        entries, args.range_comparison, _bounds(args.range_objs, shape.range_type), key=lambda e: e[0]
    )
    after = before = None
    if esk is not None:
        start = _start_entry(table, shape, esk, is_global=is_global)
        after = bisect_right(entries, start) if args.scan_index_forward else None
        before = None if args.scan_index_forward else bisect_left(entries, start)
    return _window(positions, args.scan_index_forward, after, before)


def _lsi_candidates(
    table: Any, items: TableItems, shape: IndexShape, args: QueryArgs, esk: dict[str, Any] | None
) -> Iterator[Any]:
    partition = dict.get(items, args.hash_key)
    if partition is None:
        return iter(())
    entries = partition.lsi_entries[shape.name]
    window = _index_window(table, shape, entries, args, esk, is_global=False)
    return (partition.item_at(entries[i][1]) for i in window)


def _gsi_candidates(
    table: Any, items: TableItems, shape: IndexShape, args: QueryArgs, esk: dict[str, Any] | None
) -> Iterator[Any]:
    if args.range_comparison is not None and shape.range_attr is None:
        raise UnsupportedQueryError("a sort key condition on an index without a sort key")
    bucket = native(args.hash_key, shape.hash_type)
    entries = items.gsi_entries[shape.name].get(bucket, []) if bucket is not None else []
    window = _index_window(table, shape, entries, args, esk, is_global=True)
    return (dict.__getitem__(items, items.partition_keys[entries[i][1]]).item_at(entries[i][2]) for i in window)


def page(table: Any, candidates: Iterator[Any], limit: int | None, index_name: str | None) -> tuple[list[Any], Any]:
    """The items of one Query page and its LastEvaluatedKey: at most `limit` items and 1 MB. As on DynamoDB, a
    page that stopped at its limit carries a LastEvaluatedKey even when nothing follows."""
    results: list[Any] = []
    size = 0
    for item in candidates:
        if limit is not None and len(results) == limit:
            break
        item_size = item.size()
        if results and size + item_size > RESULT_SIZE_LIMIT:
            break
        results.append(item)
        size += item_size
    else:
        if limit is None or len(results) < limit:
            return results, None
    if not results:
        return results, None
    return results, table._get_last_evaluated_key(results[-1], index_name)
