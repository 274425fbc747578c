"""A filtered search's other way to its candidates: every indexed message before the newest run, read at once in
ranges of about 1 MB cut at the index's block boundaries (one eventually consistent Query each), when that costs
fewer read units than reading the candidates by key. A BatchGetItem rounds each message up to 4 KB; a Query sums
the messages' sizes, so a session of small messages is cheaper read whole than a few hundred of them by key."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Final

from chat_memory.adapters.dynamodb.consumed import calls_made
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.index_reads import MAX_SEARCH_CALLS
from chat_memory.adapters.dynamodb.messages import messages_query
from chat_memory.adapters.dynamodb.parallel import AtOnce
from chat_memory.adapters.dynamodb.table import Table
from chat_memory.domain.search_index import IndexHead

_UNIT_BYTES: Final = 4096  # a read unit
_RANGE_BYTES: Final = 900 * 1024  # a range's estimate, under a Query page's 1 MB (a range past it reads a 2nd page)
_PAGES_PER_RANGE: Final = 2


def ranges(head: IndexHead, before_ts: int, message_bytes: float) -> list[tuple[int, int]]:
    """[first_ts, end_ts) ranges covering the incarnation's messages before `before_ts`, cut where a block starts,
    each of whole blocks totalling about _RANGE_BYTES at `message_bytes` a message (at least one block)."""
    starts = [b for b in head.blocks if b.first_ts < before_ts]
    out: list[tuple[int, int]] = []
    lo, size = head.incarnation, 0.0
    for block, after in zip(starts, [*starts[1:], None], strict=True):
        size += block.docs * message_bytes
        end = after.first_ts if after is not None else before_ts
        if after is None or size + after.docs * message_bytes > _RANGE_BYTES:
            out.append((lo, end))
            lo, size = end, 0.0
    return out


def cheaper_whole(count: int, instead_of: int, message_bytes: float) -> bool:
    """Whether `count` messages of `message_bytes` cost fewer read units in Queries than `instead_of` of them by key
    (both eventually consistent: half a unit per 4 KB)."""
    by_key = instead_of * math.ceil(message_bytes / _UNIT_BYTES)
    return 0 < math.ceil(count * message_bytes / _UNIT_BYTES) < by_key


def read_ranges(table: Table, tenant: str, session_id: str, spans: Sequence[tuple[int, int]]) -> list[Any] | None:
    """The message items of the ranges, oldest first, each range's Query made at once (eventually consistent; a
    range past its estimate reads a second page if the budget allows); None when they would pass the search's call
    budget, or a range ran past its pages (nothing usable)."""
    made = calls_made()
    if made is not None and made + len(spans) > MAX_SEARCH_CALLS:
        return None
    with AtOnce() as calls:
        read = [calls.start(partial(_range, table, tenant, session_id, lo, end)) for lo, end in spans]
    parts = [r.result() for r in read]
    if any(part is None for part in parts):
        return None
    return [item for part in parts if part is not None for item in part]


def _range(table: Table, tenant: str, session_id: str, lo: int, end: int) -> list[Mapping[str, Any]] | None:
    query = messages_query(table, tenant, session_id, lo, end - 1) | {"ConsistentRead": False}
    items: list[Mapping[str, Any]] = []
    for _ in range(_PAGES_PER_RANGE):
        with store_errors():
            page = table.db.query(**query)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        made = calls_made()
        if made is not None and made >= MAX_SEARCH_CALLS:  # a second page only within the budget
            return None
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return None
