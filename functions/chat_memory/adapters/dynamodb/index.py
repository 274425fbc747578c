"""The search index's items (IndexStore): sealed blocks written by the indexer, the head that lists them.

Blocks are written before the head names them; search uses only the blocks the head names (a block written by an
indexer that died before its head write is written again, identically, by the next run). The head's writes are
conditioned on its version, so two indexers never both extend it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.index_codec import BUCKETS, decode_blocks, encode_blocks, encode_docs, split_block
from chat_memory.adapters.dynamodb.items import message_from_item, to_item
from chat_memory.adapters.dynamodb.sessions import live_session
from chat_memory.adapters.dynamodb.sizes import MAX_ITEM_BYTES, item_size
from chat_memory.adapters.dynamodb.table import OnTable, Table
from chat_memory.domain.errors import IndexItemTooLargeError
from chat_memory.domain.models import StoredMessage
from chat_memory.domain.search_index import BuiltBlock, IndexHead, IndexState

POSTINGS_ATTR: Final = "p"  # a bucket's postings as varints (decode_bucket): blocks written before COLUMNS_ATTR
COLUMNS_ATTR: Final = "c"  # a bucket's postings in columns (encode_columns): what the indexer writes
DOCS_ATTR: Final = "d"


def head_from_item(item: Mapping[str, Any]) -> IndexHead:
    incarnation = int(item["inc"]["N"])
    return IndexHead(
        incarnation=incarnation,
        through_ts=int(item["through"]["N"]),
        blocks=tuple(decode_blocks(incarnation, bytes(item["blocks"]["B"]))),
        synced_at=int(item["synced"]["N"]),
        version=int(item["version"]["N"]),
    )


def read_head(table: Table, tenant: str, session_id: str) -> IndexHead | None:
    """The index head, strongly consistent."""
    pk = keys.session_pk(tenant, session_id)
    item = table.get(to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.INDEX_HEAD_SK}))
    return head_from_item(item) if item is not None else None


def _within_item_limit(items: list[dict[str, Any]]) -> None:
    """DynamoDB refuses an item over 400 KB (moto does not): a huge vocabulary or a very long session's head."""
    for item in items:
        if item_size(item) > MAX_ITEM_BYTES:
            raise IndexItemTooLargeError(f"index item {item[keys.TABLE_SORT_KEY]['S']} would pass 400 KB")


class DynamoIndex(OnTable):
    """IndexStore on the table."""

    def index_state(self, tenant: str, session_id: str) -> IndexState | None:
        record = live_session(self._table, tenant, session_id)
        if record is None:
            return None
        return IndexState(record.first_ts, record.message_count, read_head(self._table, tenant, session_id))

    def messages_from(self, tenant: str, session_id: str, first_ts: int, limit: int) -> list[StoredMessage]:
        """The oldest `limit` messages at or after first_ts, strongly consistent (nothing committed is skipped:
        timestamps increase in commit order)."""
        pk = keys.session_pk(tenant, session_id)
        items = self._table.range(pk, keys.message_sk(first_ts), keys.LAST_MESSAGE_SK, limit=limit)
        return [message_from_item(i) for i in items]

    def write_block(self, tenant: str, session_id: str, block: BuiltBlock, *, replace: bool) -> None:
        """The block's items; with `replace`, every bucket's (an emptied bucket's item loses its postings)."""
        pk = keys.session_pk(tenant, session_id)
        buckets = split_block(block)
        wanted = range(BUCKETS) if replace else sorted(buckets)
        items = [self._bucket_item(pk, b, block.first_ts, buckets.get(b)) for b in wanted]
        docs = to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.index_docs_sk(block.first_ts)})
        docs[DOCS_ATTR] = {"B": encode_docs(block.first_ts, block.docs)}
        _within_item_limit([*items, docs])
        self._table.batch_write([{"PutRequest": {"Item": i}} for i in [*items, docs]])

    @staticmethod
    def _bucket_item(pk: str, bucket: int, first_ts: int, data: bytes | None) -> dict[str, Any]:
        item: dict[str, Any] = to_item(
            {keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.index_bucket_sk(bucket, first_ts)}
        )
        if data:
            item[COLUMNS_ATTR] = {"B": data}
        return item

    def save_head(self, tenant: str, session_id: str, head: IndexHead) -> bool:
        """Write the head as version + 1 if the stored one is still `head.version` (0: none stored); False when
        another indexer got there first."""
        pk = keys.session_pk(tenant, session_id)
        item = to_item(
            {
                keys.TABLE_PARTITION_KEY: pk,
                keys.TABLE_SORT_KEY: keys.INDEX_HEAD_SK,
                "inc": head.incarnation,
                "through": head.through_ts,
                "synced": head.synced_at,
                "version": head.version + 1,
            }
        )
        item["blocks"] = {"B": encode_blocks(head.incarnation, head.blocks)}
        _within_item_limit([item])
        if head.version == 0:
            condition, values = "attribute_not_exists(PK)", None
        else:
            condition, values = "version = :v", to_item({":v": head.version})
        request: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if values is not None:
            request["ExpressionAttributeValues"] = values
        return self._table.write_if(self._table.db.put_item, **request)
