"""A tenant's settings item (PK `T#{tenant}#SETTINGS`, SK `SETTINGS`): its own retention period, which the
authorizer reads with the API key and hands the API functions in its context. Written by `chat-memory keys
retention`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.api_keys import check_tenant
from chat_memory.adapters.dynamodb.attributes import Item, from_item, to_item
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.table import Table
from chat_memory.domain.retention import check_retention_days, is_retention_days

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RETENTION_ATTR = "retention_days"


def _key(tenant: str) -> Item:
    return to_item({keys.TABLE_PARTITION_KEY: keys.tenant_settings_pk(tenant), keys.TABLE_SORT_KEY: keys.SETTINGS_SK})


class TenantSettingsStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = Table(table_name, client)

    def retention_days(self, tenant: str) -> int | None:
        """The tenant's own retention period in days (0: for ever), or None: the deployment's."""
        item = self._table.get(_key(tenant))
        days = int(from_item(item)[RETENTION_ATTR]) if item and RETENTION_ATTR in item else None
        return days if is_retention_days(days) else None

    def set_retention_days(self, tenant: str, days: int | None) -> None:
        """Give the tenant its own period (0: keep for ever), or None: back to the deployment's."""
        check_tenant(tenant)
        update: dict[str, object] = {"TableName": self._table.name, "Key": _key(tenant)}
        if days is None:
            update["UpdateExpression"] = f"REMOVE {RETENTION_ATTR}"
        else:
            check_retention_days(days, "the retention period")
            update["UpdateExpression"] = f"SET {RETENTION_ATTR} = :d, tenant = :t, updated_ts = :u"
            update["ExpressionAttributeValues"] = to_item({":d": days, ":t": tenant, ":u": self._table.clock()})
        with store_errors():
            self._table.db.update_item(**update)  # type: ignore[arg-type]
