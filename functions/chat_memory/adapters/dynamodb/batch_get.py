"""BatchGetItem of many keys, retrying `UnprocessedKeys`: how the listings read the items their keys-only indexes
name (table.py; api_keys.py, which the authorizer imports, so this module stays small)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import RETRY_BUDGET_SECONDS, attempts, store_errors
from chat_memory.domain.errors import StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

BATCH_GET_SIZE = 100  # keys in one BatchGetItem


def key_of(item: Mapping[str, Any]) -> tuple[str, str]:
    """An item's (PK, SK)."""
    return str(item[keys.TABLE_PARTITION_KEY]["S"]), str(item[keys.TABLE_SORT_KEY]["S"])


def batch_get(
    db: DynamoDBClient, table: str, item_keys: Sequence[Mapping[str, Any]], retry_budget: float = RETRY_BUDGET_SECONDS
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The items of these keys of `table` (eventually consistent), by (PK, SK); absent ones are left out.
    BatchGetItems of 100; StoreUnavailableError when keys are still unprocessed at the end of the budget."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for start in range(0, len(item_keys), BATCH_GET_SIZE):
        chunk = [
            {name: item_key[name] for name in (keys.TABLE_PARTITION_KEY, keys.TABLE_SORT_KEY)}
            for item_key in item_keys[start : start + BATCH_GET_SIZE]
        ]
        request: Mapping[str, KeysAndAttributesTypeDef] = {table: {"Keys": chunk}}
        for _ in attempts(retry_budget):
            with store_errors():
                response = db.batch_get_item(RequestItems=request)
            found |= {key_of(item): item for item in response.get("Responses", {}).get(table, [])}
            request = response.get("UnprocessedKeys") or {}  # type: ignore[assignment]
            if not request:
                break
        else:
            raise StoreUnavailableError("the memory store is busy; retry shortly")
    return found
