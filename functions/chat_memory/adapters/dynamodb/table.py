"""The table the store's parts share: its name, the client, the clock and the write retry budget, with the reads
every part makes (a strongly consistent GetItem, Query pages, a key range, a listing index).

The listing indexes (ByTenant, SessionsByUser) project keys only, so that a write that changes a session's
counters (every add_memory) rewrites no index entry: a listing reads an index page's keys, then the items
(batch_get.listed_items)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.attributes import Item, to_item
from chat_memory.adapters.dynamodb.batch_get import batch_get, listed_items
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.dynamodb.errors import RETRY_BUDGET_SECONDS, attempts, is_version_conflict, store_errors
from chat_memory.domain.errors import StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

    from chat_memory.domain.models import Position

BATCH_WRITE_SIZE = 25  # requests in one BatchWriteItem

GSI1 = (keys.GSI1_PARTITION_KEY, keys.GSI1_SORT_KEY)
GSI2 = (keys.GSI2_PARTITION_KEY, keys.GSI2_SORT_KEY)


def now_micros() -> int:
    return time.time_ns() // 1_000


class Table:
    """One DynamoDB table (see keys.py for the layout)."""

    def __init__(
        self,
        name: str,
        client: DynamoDBClient | None = None,
        clock: Callable[[], int] = now_micros,
        retry_budget_seconds: float = RETRY_BUDGET_SECONDS,
    ) -> None:
        self.name = name
        self.clock = clock
        self.retry_budget = retry_budget_seconds
        self._client = client

    @property
    def db(self) -> DynamoDBClient:
        return self._client or dynamodb_client()

    def get(self, key: Item) -> Mapping[str, Any] | None:
        with store_errors():
            response = self.db.get_item(TableName=self.name, Key=key, ConsistentRead=True)
        return response.get("Item")

    def write_if(self, write: Callable[..., object], **request: Any) -> bool:
        """One conditional write (`write`: the client's put_item, update_item or delete_item) to this table; False
        when its condition failed: a writer got there first."""
        try:
            with store_errors():
                write(TableName=self.name, **request)
        except ClientError as exc:
            if not is_version_conflict(exc):
                raise
            return False
        return True

    def batch_write(self, requests: Sequence[WriteRequestTypeDef]) -> None:
        """Puts and deletes (unconditional) in BatchWriteItems of 25, retrying `UnprocessedItems` within the retry
        budget; StoreUnavailableError when some are still unprocessed then (a retry of the whole is safe)."""
        for start in range(0, len(requests), BATCH_WRITE_SIZE):
            self._batch_write(list(requests[start : start + BATCH_WRITE_SIZE]))

    def _batch_write(self, requests: list[WriteRequestTypeDef]) -> None:
        for _ in attempts(self.retry_budget):
            with store_errors():
                response = self.db.batch_write_item(RequestItems={self.name: requests})
            unprocessed: Any = response.get("UnprocessedItems", {}).get(self.name, [])
            requests = list(unprocessed)
            if not requests:
                return
        raise StoreUnavailableError("the memory store is busy; the batch will finish when retried")

    def items(self, query: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        """The items of a Query, one request per page as the caller reads on (a page stops at its Limit or 1 MB)."""
        for page in self._pages(query):
            yield from page

    def _pages(self, query: dict[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
        while True:
            with store_errors():
                page = self.db.query(**query)
            yield list(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def batch_get(self, item_keys: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
        """The items of these keys (or of items that hold them), eventually consistent, by (PK, SK); absent ones
        are left out. BatchGetItems of 100, retrying `UnprocessedKeys` within the retry budget."""
        return batch_get(self.db, self.name, item_keys, self.retry_budget)

    def range(
        self,
        pk: str,
        lo: str,
        hi: str,
        *,
        limit: int | None = None,
        newest_first: bool = False,
        keys_only: bool = False,
    ) -> list[Mapping[str, Any]]:
        """Items with lo <= SK <= hi, strongly consistent, following LastEvaluatedKey (a 1 MB page can stop
        short of Limit) until `limit` items or the end of the range."""
        query: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": to_item({":pk": pk, ":lo": lo, ":hi": hi}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if keys_only:
            query["ProjectionExpression"] = "PK, SK"
        items: list[Mapping[str, Any]] = []
        while limit is None or len(items) < limit:
            if limit is not None:
                query["Limit"] = limit - len(items)
            with store_errors():
                page = self.db.query(**query)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def listing(
        self, index: str, key_attrs: tuple[str, str], partition: str, after: Position | None, read_ahead: int | None
    ) -> Iterator[Mapping[str, Any]]:
        """One partition of a listing index (creation order, then id), after `after`; `read_ahead` sizes the pages."""
        pk_attr, sk_attr = key_attrs
        condition = f"{pk_attr} = :pk"
        values = to_item({":pk": partition})
        if after is not None:
            condition += f" AND {sk_attr} > :after"
            values.update(to_item({":after": keys.created_sk(after.ts, after.id)}))
        query: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if read_ahead is not None:
            query["Limit"] = read_ahead
        for page in self._pages(query):
            yield from listed_items(self.db, self.name, page, key_attrs, self.retry_budget)


class OnTable:
    """A part of the store (one port, or part of one): they all work on one shared Table."""

    def __init__(self, table: Table) -> None:
        self._table = table
