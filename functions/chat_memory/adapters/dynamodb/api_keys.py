"""API keys: random, shown once, stored only as their SHA-256, with a tenant, a name, a creation time and a
revoked flag. A key is found by its hash (a GetItem), so checking a key never compares secrets byte by byte."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.batch_get import listed_items
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.domain.api_keys import ApiKeyInfo
from chat_memory.domain.errors import ConflictError, InvalidInputError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "cm_"
_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KEY_ID_CHARS = 16


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(item: Mapping[str, Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=item["key_id"]["S"],
        tenant=item["tenant"]["S"],
        name=item["name"]["S"],
        created_ts=int(item["created_ts"]["N"]),
        revoked=bool(item.get("revoked", {}).get("BOOL", False)),
    )


def check_tenant(tenant: str) -> None:
    if not _TENANT.match(tenant):
        raise InvalidInputError("a tenant is 1 to 64 letters, digits, '_', '.' or '-'")


class ApiKeyStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def _db(self) -> DynamoDBClient:
        return self._client or dynamodb_client()

    def _put(self, tenant: str, name: str, secret: str) -> ApiKeyInfo:
        check_tenant(tenant)
        if not name or len(name) > 128:
            raise InvalidInputError("a key's name is 1 to 128 characters")
        digest = key_hash(secret)
        info = ApiKeyInfo(key_id=digest[:_KEY_ID_CHARS], tenant=tenant, name=name, created_ts=time.time_ns() // 1_000)
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    keys.TABLE_PARTITION_KEY: {"S": keys.api_key_pk(digest)},
                    keys.TABLE_SORT_KEY: {"S": keys.API_KEY_SK},
                    "key_hash": {"S": digest},
                    "key_id": {"S": info.key_id},
                    "tenant": {"S": tenant},
                    "name": {"S": name},
                    "created_ts": {"N": str(info.created_ts)},
                    keys.GSI1_PARTITION_KEY: {"S": keys.API_KEYS_GSI_PK},
                    keys.GSI1_SORT_KEY: {"S": keys.created_sk(info.created_ts, info.key_id)},
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConflictError("that key exists already") from exc
            raise
        return info

    def create(self, tenant: str, name: str) -> tuple[ApiKeyInfo, str]:
        """A new random key (256 bits): returns it once, with what is stored of it."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        return self._put(tenant, name, secret), secret

    def ensure(self, tenant: str, name: str, secret: str) -> ApiKeyInfo:
        """Store a given key (the local server's CHAT_MEMORY_API_KEY) unless it is stored already."""
        found = self.lookup(secret)
        if found is not None and found.tenant == tenant and not found.revoked:
            return found
        if found is not None:
            raise ConflictError(f"that key is stored already for tenant {found.tenant!r} or revoked")
        return self._put(tenant, name, secret)

    def lookup(self, secret: str) -> ApiKeyInfo | None:
        digest = key_hash(secret)
        response = self._db.get_item(
            TableName=self._table,
            Key={keys.TABLE_PARTITION_KEY: {"S": keys.api_key_pk(digest)}, keys.TABLE_SORT_KEY: {"S": keys.API_KEY_SK}},
            ConsistentRead=True,  # a revoked key must stop working as soon as the authorizer cache expires
        )
        item = response.get("Item")
        # The lookup is by hash already; comparing the stored hash in constant time costs nothing extra.
        if item is None or not hmac.compare_digest(item["key_hash"]["S"], digest):
            return None
        return _info(item)

    def list_keys(self) -> list[ApiKeyInfo]:
        return [_info(item) for item in self._key_items()]

    def revoke(self, key_id: str) -> bool:
        for item_key in self._keys_with_id(key_id):
            self._db.update_item(
                TableName=self._table,
                Key=item_key,
                UpdateExpression="SET revoked = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
            return True
        return False

    def _keys_with_id(self, key_id: str) -> list[dict[str, Any]]:
        return [{"PK": i["PK"], "SK": i["SK"]} for i in self._key_items() if i["key_id"]["S"] == key_id]

    def _key_items(self) -> list[Mapping[str, Any]]:
        """Every key's item, from the listing index (its keys, then the items: batch_get.listed_items)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.LIST_BY_TENANT_INDEX,
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.API_KEYS_GSI_PK}},
        }
        entries: list[Mapping[str, Any]] = []
        while True:
            page = self._db.query(**query)
            entries += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return list(listed_items(self._db, self._table, entries, (keys.GSI1_PARTITION_KEY, keys.GSI1_SORT_KEY)))
