"""A tenant's settings item (PK `T#{tenant}#SETTINGS`, SK `SETTINGS`): its own retention period, which the
authorizer reads with the API key and hands the API functions in its context. Written by `chat-memory keys
retention`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.api_keys import check_tenant
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.dynamodb.items import Item, from_item, to_item
from chat_memory.domain.retention import check_retention_days, is_retention_days

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RETENTION_ATTR = "retention_days"


def _key(tenant: str) -> Item:
    return to_item({keys.TABLE_PARTITION_KEY: keys.tenant_settings_pk(tenant), keys.TABLE_SORT_KEY: keys.SETTINGS_SK})


class TenantSettingsStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def _db(self) -> DynamoDBClient:
        return self._client or dynamodb_client()

    def retention_days(self, tenant: str) -> int | None:
        """The tenant's own retention period in days (0: for ever), or None: the deployment's."""
        response = self._db.get_item(TableName=self._table, Key=_key(tenant), ConsistentRead=True)
        item = response.get("Item")
        days = int(from_item(item)[RETENTION_ATTR]) if item and RETENTION_ATTR in item else None
        return days if is_retention_days(days) else None

    def set_retention_days(self, tenant: str, days: int | None) -> None:
        """Give the tenant its own period (0: keep for ever), or None: back to the deployment's."""
        check_tenant(tenant)
        if days is None:
            self._db.update_item(TableName=self._table, Key=_key(tenant), UpdateExpression=f"REMOVE {RETENTION_ATTR}")
            return
        check_retention_days(days, "the retention period")
        self._db.update_item(
            TableName=self._table,
            Key=_key(tenant),
            UpdateExpression=f"SET {RETENTION_ATTR} = :d, tenant = :t, updated_ts = :u",
            ExpressionAttributeValues=to_item({":d": days, ":t": tenant, ":u": time.time_ns() // 1_000}),
        )
