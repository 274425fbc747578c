"""What search reads of the index: the postings of a few terms (one eventually consistent Query per term bucket,
all at once: blocks are immutable once named by the head, and search trusts only blocks sealed a while ago), then
the chosen messages (their blocks' timestamps, read along with the postings when small, then the messages, each
one eventually consistent BatchGetItem)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.batch_get import BATCH_GET_SIZE, batch_get_twice
from chat_memory.adapters.dynamodb.consumed import calls_made
from chat_memory.adapters.dynamodb.embeddings import embedding_from_item
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.index import COLUMNS_ATTR, DOCS_ATTR, POSTINGS_ATTR
from chat_memory.adapters.dynamodb.index_codec import bucket_of, decode_bucket, decode_columns, decode_docs
from chat_memory.adapters.dynamodb.items import message_from_item, sort_key, to_item
from chat_memory.adapters.dynamodb.parallel import AtOnce
from chat_memory.adapters.dynamodb.table import OnTable, Table
from chat_memory.domain.models import SearchableMessage
from chat_memory.domain.search_index import IndexHead, IndexHits, Posting

MAX_SEARCH_CALLS: Final = 20  # DynamoDB calls a search may make (the ceiling)
MAX_BUCKET_CALLS: Final = 6  # Query pages of term buckets per search (terms sharing a bucket come free)
READ_UNIT_BYTES: Final = 4096  # a read unit (BatchGetItem rounds each item up to it; Query rounds the sum)
_DOCS_ITEM_BYTES: Final = 80  # a block's timestamps item: keys and name, then about
_BYTES_PER_DOC: Final = 4  # bytes per message (a varint gap of microseconds: seconds to hours apart)
PREFETCH_TIMESTAMPS_BYTES: Final = 16 * READ_UNIT_BYTES  # read them along with the postings up to this estimate


def within_call_budget(more: int) -> bool:
    """Whether `more` DynamoDB calls keep the search within MAX_SEARCH_CALLS (outside a measured request, where
    no call is counted: yes)."""
    made = calls_made()
    return made is None or made + more <= MAX_SEARCH_CALLS


def plan_buckets(terms: Sequence[str]) -> dict[int, list[str]]:
    """The buckets to read for the terms, in their order of priority, at most MAX_BUCKET_CALLS buckets."""
    plan: dict[int, list[str]] = {}
    for term in dict.fromkeys(terms):
        bucket = bucket_of(term)
        if bucket in plan:
            plan[bucket].append(term)
        elif len(plan) < MAX_BUCKET_CALLS:
            plan[bucket] = [term]
    return plan


class DynamoIndexReads(OnTable):
    """The index half of search's reads (SearchIndexStore, with search.py's search_view)."""

    def postings(self, tenant: str, session_id: str, head: IndexHead, terms: Sequence[str]) -> IndexHits:
        """The postings in the head's blocks of the first terms (by priority) whose buckets fit the budget; a term
        left out (or whose bucket did not fit in the pages left) is absent. Every bucket's first page, and the
        blocks' timestamps when they are small, are read at once; a bucket's further pages after."""
        pk = keys.session_pk(tenant, session_id)
        plan = plan_buckets(terms)
        with AtOnce() as calls:
            firsts = {b: calls.start(partial(self._page, _bucket_query(self._table, pk, b))) for b in plan}
            stamps = calls.start(partial(self._all_timestamps, pk, head)) if _small(head) else None
        blocks = {b.first_ts for b in head.blocks}
        found: dict[str, list[Posting]] = {}
        pages_left = MAX_BUCKET_CALLS - len(plan)
        for bucket, wanted in plan.items():
            query, (items, more) = _bucket_query(self._table, pk, bucket), firsts[bucket].result()
            while more is not None and pages_left > 0:
                query["ExclusiveStartKey"], pages_left = more, pages_left - 1
                page, more = self._page(query)
                items = [*items, *page]
            if more is not None:
                break
            for term in wanted:
                found[term] = []
            for item in items:
                block = keys.index_block_of(sort_key(item))
                if block in blocks:
                    for term, entries in bucket_postings(item, wanted, block).items():
                        found[term].extend(entries)
        return IndexHits(found, stamps.result() if stamps is not None else None)

    def _page(self, query: dict[str, Any]) -> tuple[list[Mapping[str, Any]], Any]:
        """One Query page: its items and where the next starts (None: that was the last)."""
        with store_errors():
            page = self._table.db.query(**query)
        return list(page.get("Items", [])), page.get("LastEvaluatedKey")

    def indexed_messages(
        self,
        tenant: str,
        session_id: str,
        head: IndexHead,
        wanted: Iterable[tuple[int, int]],
        timestamps: Mapping[int, Sequence[int]] | None = None,
    ) -> dict[tuple[int, int], SearchableMessage]:
        """The messages at (block first_ts, position in the block), at most 100: the blocks' timestamps (unless
        given), then the messages (eventually consistent; a change of the last moment comes from the change
        markers)."""
        pk = keys.session_pk(tenant, session_id)
        wanted = list(dict.fromkeys(wanted))[:BATCH_GET_SIZE]
        if timestamps is None:
            timestamps = self._timestamps(pk, head, sorted({b for b, _ in wanted}))
        at: dict[int, tuple[int, int]] = {}
        for block, ordinal in wanted:
            stamps = timestamps.get(block, [])
            if ordinal < len(stamps):
                at[stamps[ordinal]] = (block, ordinal)
        message_keys = [
            to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.message_sk(ts)}) for ts in sorted(at)
        ]
        out: dict[tuple[int, int], SearchableMessage] = {}
        for item in batch_get_twice(self._table.db, self._table.name, message_keys, consistent=False):
            message = message_from_item(item)
            out[at[message.ts]] = SearchableMessage(message, embedding_from_item(item))
        return out

    def room_for_more(self, *, timestamps: bool) -> bool:
        """Whether another indexed_messages fits in MAX_SEARCH_CALLS at its worst: the messages' BatchGetItem
        pair, and without the `timestamps` the blocks' (a Query, or another pair)."""
        return within_call_budget(2 if timestamps else 4)

    def _timestamps(self, pk: str, head: IndexHead, blocks: Sequence[int]) -> dict[int, list[int]]:
        """The message timestamps of `blocks`: a BatchGetItem of their items (each item rounded up to 4 KB), or one
        Query of every block's (their sizes summed) when that reads fewer units."""
        if _estimate(head) < READ_UNIT_BYTES * len(blocks):  # under 400 KB: one page
            return self._all_timestamps(pk, head, blocks)
        doc_keys = [to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.index_docs_sk(b)}) for b in blocks]
        return _decoded(batch_get_twice(self._table.db, self._table.name, doc_keys, consistent=False), set(blocks))

    def _all_timestamps(self, pk: str, head: IndexHead, blocks: Sequence[int] | None = None) -> dict[int, list[int]]:
        """The message timestamps of `blocks` (None: the head's) from one Query page of every block's."""
        query = _range_query(self._table, pk, keys.index_docs_sk(0), keys.index_docs_sk(keys.LAST_TS))
        items, _ = self._page(query)
        return _decoded(items, {b.first_ts for b in head.blocks} if blocks is None else set(blocks))


def bucket_postings(item: Mapping[str, Any], wanted: Collection[str], block: int) -> dict[str, list[Posting]]:
    """A bucket item's postings of the `wanted` terms, in whichever layout its block was written."""
    if COLUMNS_ATTR in item:
        return decode_columns(bytes(item[COLUMNS_ATTR]["B"]), wanted, block)
    if POSTINGS_ATTR in item:
        return decode_bucket(bytes(item[POSTINGS_ATTR]["B"]), wanted, block)
    return {}


def _range_query(table: Table, pk: str, lo: str, hi: str) -> dict[str, Any]:
    """A Query of the items with lo <= SK <= hi, eventually consistent."""
    return {
        "TableName": table.name,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": to_item({":pk": pk, ":lo": lo, ":hi": hi}),
        "ConsistentRead": False,
    }


def _bucket_query(table: Table, pk: str, bucket: int) -> dict[str, Any]:
    prefix = keys.index_bucket_prefix(bucket)
    return _range_query(table, pk, prefix, prefix + "~")


def _estimate(head: IndexHead) -> int:
    """About how many bytes the timestamps items of all the head's blocks hold."""
    return sum(_DOCS_ITEM_BYTES + _BYTES_PER_DOC * b.docs for b in head.blocks)


def _small(head: IndexHead) -> bool:
    """Whether all the blocks' timestamps cost no more to read along with the postings than those of the blocks a
    search typically needs would cost after (the candidates of up to 16 blocks: a 4 KB unit each)."""
    return _estimate(head) <= PREFETCH_TIMESTAMPS_BYTES


def _decoded(items: Iterable[Mapping[str, Any]], wanted: Collection[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for item in items:
        block = keys.index_block_of(sort_key(item))
        if block in wanted:
            out[block] = decode_docs(block, bytes(item[DOCS_ATTR]["B"]))
    return out
