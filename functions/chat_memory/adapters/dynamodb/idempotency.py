"""Idempotency-Key records (Powertools' idempotency utility) in the memory table, one partition each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import store_errors

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from mypy_boto3_dynamodb import DynamoDBClient


class IdempotencyRecords(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB persistence layer with this table's key layout.

    Powertools keys a record by its own key attribute or, with a sort key, puts every record under one static
    partition key (a hot partition). Here each record gets its own partition in its tenant's key space:
    PK `T#{tenant}#IDEMPOTENCY#{hash}` (Powertools' "{key_prefix}#{hash}" with `key_prefix(tenant)`), SK
    `IDEMPOTENCY`. The items carry no index attribute (so they appear in no listing), their SK matches neither
    stream consumer's filter, and TTL on `expires_at` removes them.

    Overridden: `_get_key` (Powertools' one private method here, for the sort key; tests/unit/test_idempotency_key.py
    pins it, pyproject.toml pins Powertools' minor version) and the four record methods that Powertools documents
    for custom persistence layers, only to map throttling to the domain's error.
    """

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        super().__init__(
            table_name=table_name, key_attr=keys.TABLE_PARTITION_KEY, expiry_attr=keys.TTL_ATTR, boto3_client=client
        )

    @staticmethod
    def key_prefix(tenant: str) -> str:
        """The `key_prefix` of a tenant's records: Powertools appends "#{hash}", which makes keys.idempotency_pk."""
        return keys.idempotency_pk(tenant, "").removesuffix("#")

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        return {keys.TABLE_PARTITION_KEY: {"S": idempotency_key}, keys.TABLE_SORT_KEY: {"S": keys.IDEMPOTENCY_SK}}

    # Throttling after botocore's retries becomes the domain's StoreUnavailableError (503 with Retry-After), as
    # for every other write; Powertools wraps it in IdempotencyPersistenceLayerError (its __cause__).
    def _get_record(self, idempotency_key: str) -> DataRecord:
        with store_errors():
            return super()._get_record(idempotency_key)

    def _put_record(self, data_record: DataRecord) -> None:
        with store_errors():
            super()._put_record(data_record)

    def _update_record(self, data_record: DataRecord) -> None:
        with store_errors():
            super()._update_record(data_record)

    def _delete_record(self, data_record: DataRecord) -> None:
        with store_errors():
            super()._delete_record(data_record)
