"""Embeddings, kept on the message items they embed (attributes `vec` and `vm`): search reads them with the
messages (no second read), a deleted message takes its embedding with it, and a content change removes it in the
same write (appends.py), so an embedding never outlives the text it was made from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.items import to_item
from chat_memory.adapters.dynamodb.sizes import MAX_ITEM_BYTES
from chat_memory.adapters.dynamodb.table import OnTable
from chat_memory.domain.models import Embedding
from chat_memory.observability import logger

VECTOR_ATTR: Final = "vec"  # binary: the signed-byte components
MODEL_ATTR: Final = "vm"  # the model id; the stream's filter passes message writes without it (template.yaml)
EMBEDDING_ATTRS: Final = (VECTOR_ATTR, MODEL_ATTR)


def embedding_from_item(item: Mapping[str, Any]) -> Embedding | None:
    if VECTOR_ATTR not in item or MODEL_ATTR not in item:
        return None
    return Embedding(model=str(item[MODEL_ATTR]["S"]), vector=bytes(item[VECTOR_ATTR]["B"]))


def embedding_bytes(embedding: Embedding) -> int:
    """What the embedding adds to its item, as DynamoDB counts it."""
    return len(VECTOR_ATTR) + len(embedding.vector) + len(MODEL_ATTR) + len(embedding.model.encode())


def fits_with(stored_bytes: int, embedding: Embedding) -> bool:
    return stored_bytes + embedding_bytes(embedding) <= MAX_ITEM_BYTES


class DynamoEmbeddings(OnTable):
    """EmbeddingStore on the table."""

    def save_embedding(
        self, tenant: str, session_id: str, ts: int, content: str, embedding: Embedding, stored_bytes: int
    ) -> bool:
        if not fits_with(stored_bytes, embedding):
            logger.warning("message left without an embedding: its item has no room", extra={"bytes": stored_bytes})
            return False
        pk, sk = keys.session_pk(tenant, session_id), keys.message_sk(ts)
        key = to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: sk})
        values = to_item({":c": content, ":m": embedding.model})
        values[":v"] = {"B": embedding.vector}
        return self._table.write_if(
            self._table.db.update_item,
            Key=key,
            UpdateExpression=f"SET {VECTOR_ATTR} = :v, {MODEL_ATTR} = :m",
            # The text it was made from, still there: never an embedding of an old text, nor an item re-created.
            ConditionExpression="content = :c",
            ExpressionAttributeValues=values,
        )
