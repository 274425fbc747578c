"""What search reads of the index: the postings of a few terms (one eventually consistent Query per term bucket:
blocks are immutable once named by the head, and search trusts only blocks sealed a while ago), then the chosen
messages (their blocks' timestamps, then the messages, each one eventually consistent BatchGetItem)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.embeddings import embedding_from_item
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.index import DOCS_ATTR, POSTINGS_ATTR
from chat_memory.adapters.dynamodb.index_codec import bucket_of, decode_bucket, decode_docs
from chat_memory.adapters.dynamodb.items import message_from_item, sort_key, to_item
from chat_memory.adapters.dynamodb.table import OnTable, Table
from chat_memory.domain.models import SearchableMessage
from chat_memory.domain.search_index import IndexHead, Posting

MAX_BUCKET_CALLS: Final = 6  # Query pages of term buckets per search (terms sharing a bucket come free)
MAX_KEYS: Final = 100  # one BatchGetItem
_UNIT_BYTES: Final = 4096  # a read unit (BatchGetItem rounds each item up to it; Query rounds the sum)
_DOCS_ITEM_BYTES: Final = 80  # a block's timestamps item: keys and name, then about
_BYTES_PER_DOC: Final = 4  # bytes per message (a varint gap of microseconds: seconds to hours apart)


def batch_get(table: Table, item_keys: Sequence[Mapping[str, Any]], *, consistent: bool) -> list[Mapping[str, Any]]:
    """The items at `item_keys` (at most 100) in one BatchGetItem and one more for what DynamoDB left unprocessed;
    those not found are left out."""
    pending: list[Any] = list(item_keys[:MAX_KEYS])
    found: list[Mapping[str, Any]] = []
    for _ in range(2):
        if not pending:
            break
        with store_errors():
            response = table.db.batch_get_item(
                RequestItems={table.name: {"Keys": pending, "ConsistentRead": consistent}}
            )
        found.extend(response.get("Responses", {}).get(table.name, []))
        unprocessed = response.get("UnprocessedKeys", {}).get(table.name)
        pending = list(unprocessed["Keys"]) if unprocessed else []
    return found


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

    def postings(self, tenant: str, session_id: str, head: IndexHead, terms: Sequence[str]) -> dict[str, list[Posting]]:
        """The postings in the head's blocks of the first terms (by priority) whose buckets fit the budget; a term
        left out (or whose bucket did not fit in the pages left) is absent."""
        blocks = {b.first_ts for b in head.blocks}
        found: dict[str, list[Posting]] = {}
        calls = 0
        for bucket, wanted in plan_buckets(terms).items():
            items, complete, used = self._bucket(tenant, session_id, bucket, MAX_BUCKET_CALLS - calls)
            calls += used
            if not complete:
                break
            for term in wanted:
                found[term] = []
            for item in items:
                block = keys.index_block_of(sort_key(item))
                if block not in blocks or POSTINGS_ATTR not in item:
                    continue
                for term, entries in decode_bucket(bytes(item[POSTINGS_ATTR]["B"]), wanted).items():
                    found[term].extend(Posting(block, o, tf, length) for o, tf, length in entries)
        return found

    def _bucket(
        self, tenant: str, session_id: str, bucket: int, pages: int
    ) -> tuple[list[Mapping[str, Any]], bool, int]:
        """A bucket's items in at most `pages` Query pages: (items, whether that was all, pages used)."""
        prefix = keys.index_bucket_prefix(bucket)
        return self._range(keys.session_pk(tenant, session_id), prefix, prefix + "~", pages)

    def _range(self, pk: str, lo: str, hi: str, pages: int) -> tuple[list[Mapping[str, Any]], bool, int]:
        """Items with lo <= SK <= hi, eventually consistent, in at most `pages` Query pages: (items, whether that
        was all, pages used)."""
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": to_item({":pk": pk, ":lo": lo, ":hi": hi}),
            "ConsistentRead": False,
        }
        items: list[Mapping[str, Any]] = []
        for used in range(1, pages + 1):
            with store_errors():
                page = self._table.db.query(**query)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items, True, used
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items, False, pages

    def indexed_messages(
        self, tenant: str, session_id: str, head: IndexHead, wanted: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], SearchableMessage]:
        """The messages at (block first_ts, position in the block), at most 100: the blocks' timestamps, then the
        messages (eventually consistent; a change of the last moment comes from the change markers)."""
        pk = keys.session_pk(tenant, session_id)
        wanted = list(dict.fromkeys(wanted))[:MAX_KEYS]
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
        for item in batch_get(self._table, message_keys, consistent=False):
            message = message_from_item(item)
            out[at[message.ts]] = SearchableMessage(message, embedding_from_item(item))
        return out

    def _timestamps(self, pk: str, head: IndexHead, blocks: Sequence[int]) -> dict[int, list[int]]:
        """The message timestamps of `blocks`: a BatchGetItem of their items (each item rounded up to 4 KB), or one
        Query of every block's (their sizes summed) when that reads fewer units."""
        estimate = sum(_DOCS_ITEM_BYTES + _BYTES_PER_DOC * b.docs for b in head.blocks)
        if estimate < _UNIT_BYTES * len(blocks):  # under 400 KB: one page
            items, _, _ = self._range(pk, keys.index_docs_sk(0), keys.index_docs_sk(keys.LAST_TS), 1)
        else:
            doc_keys = [
                to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.index_docs_sk(b)}) for b in blocks
            ]
            items = batch_get(self._table, doc_keys, consistent=False)
        wanted = set(blocks)
        out: dict[int, list[int]] = {}
        for item in items:
            block = keys.index_block_of(sort_key(item))
            if block in wanted:
                out[block] = decode_docs(block, bytes(item[DOCS_ATTR]["B"]))
        return out
