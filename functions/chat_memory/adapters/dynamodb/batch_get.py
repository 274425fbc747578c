"""How a listing gets its items from a listing index's entries (table.py; api_keys.py, which the authorizer
imports, so this module stays small).

An index that projects keys only (the template's default) gives the items' keys: they are read with BatchGetItem
(eventually consistent, like the index), and only items still at that place in the index are kept (not deleted,
moved or recreated since the entry was written). An index that projects ALL (stacks deployed before, which keep
it) gives the items themselves, used as they are, as before. Which one an entry is, it says itself: an entry of
nothing but keys is a keys-only one, so the code never expects an attribute that the index does not hold."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import RETRY_BUDGET_SECONDS, attempts, store_errors
from chat_memory.domain.errors import StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

BATCH_GET_SIZE = 100  # keys in one BatchGetItem
# Every key attribute a listing index entry can hold: the table's and the listing indexes' keys.
_KEY_ATTRS: Final = frozenset(
    {
        keys.TABLE_PARTITION_KEY,
        keys.TABLE_SORT_KEY,
        keys.GSI1_PARTITION_KEY,
        keys.GSI1_SORT_KEY,
        keys.GSI2_PARTITION_KEY,
        keys.GSI2_SORT_KEY,
    }
)


def listed_items(
    db: DynamoDBClient,
    table: str,
    entries: Sequence[Mapping[str, Any]],
    index_key: Sequence[str],
    retry_budget: float = RETRY_BUDGET_SECONDS,
) -> Iterator[Mapping[str, Any]]:
    """The items of a page of a listing index's entries, in the index's order (see the module's docstring)."""
    keys_only = [entry for entry in entries if entry.keys() <= _KEY_ATTRS]
    found = batch_get(db, table, keys_only, retry_budget) if keys_only else {}
    for entry in entries:
        if entry.keys() <= _KEY_ATTRS:
            item = found.get(key_of(entry))
            if item is not None and all(item.get(name) == entry[name] for name in index_key):
                yield item
        else:
            yield entry  # the index projects ALL: the entry is the item


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


def batch_get_twice(
    db: DynamoDBClient, table: str, item_keys: Sequence[Mapping[str, Any]], *, consistent: bool
) -> list[Mapping[str, Any]]:
    """The items at `item_keys` (at most 100) in one BatchGetItem and one more for what DynamoDB left unprocessed
    (a search's call budget allows no more); those not found, or still unprocessed, are left out."""
    pending: list[Any] = list(item_keys[:BATCH_GET_SIZE])
    found: list[Mapping[str, Any]] = []
    for _ in range(2):
        if not pending:
            break
        with store_errors():
            response = db.batch_get_item(RequestItems={table: {"Keys": pending, "ConsistentRead": consistent}})
        found.extend(response.get("Responses", {}).get(table, []))
        unprocessed = response.get("UnprocessedKeys", {}).get(table)
        pending = list(unprocessed["Keys"]) if unprocessed else []
    return found
