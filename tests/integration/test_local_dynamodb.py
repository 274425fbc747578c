"""The local server's DynamoDB: the table from template.yaml, the embedded moto server and its per-call lock."""

import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from chat_memory.adapters.dynamodb import keys
from chat_memory_dev.localdb.dynamodb import (
    ENDPOINT_ENV,
    EmbeddedDynamoDB,
    create_table_from_template,
    create_table_kwargs,
    start_local_dynamodb,
)
from chat_memory_dev.template import table_properties


@pytest.fixture
def embedded() -> Iterator[EmbeddedDynamoDB]:
    with EmbeddedDynamoDB() as db:
        yield db


def _client(endpoint: str) -> Any:
    config = Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 1})
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=config)


def test_create_table_kwargs_follow_the_template() -> None:
    props = table_properties()
    kwargs = create_table_kwargs("t", props)
    assert kwargs["TableName"] == "t"
    assert kwargs["KeySchema"] == props["KeySchema"]
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in kwargs["LocalSecondaryIndexes"]] == [
        i["IndexName"] for i in props["LocalSecondaryIndexes"]
    ]
    assert [i["IndexName"] for i in kwargs["GlobalSecondaryIndexes"]] == [
        i["IndexName"] for i in props["GlobalSecondaryIndexes"]
    ]
    assert kwargs["StreamSpecification"]["StreamEnabled"] is True
    assert not {"PointInTimeRecoverySpecification", "SSESpecification", "TimeToLiveSpecification"} & set(kwargs)


def test_create_table_from_template_is_idempotent_and_enables_ttl(embedded: EmbeddedDynamoDB) -> None:
    client = _client(embedded.endpoint_url)
    assert create_table_from_template(client, "memory") is True
    assert create_table_from_template(client, "memory") is False
    table = client.describe_table(TableName="memory")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert {i["IndexName"] for i in table["LocalSecondaryIndexes"]} == {keys.MESSAGE_UUID_INDEX}
    gsis = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(gsis) == {keys.LIST_BY_TENANT_INDEX, keys.SESSIONS_BY_USER_INDEX}
    assert gsis[keys.SESSIONS_BY_USER_INDEX]["KeySchema"] == [
        {"AttributeName": keys.GSI2_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": keys.GSI2_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert all(i["Projection"] == {"ProjectionType": "KEYS_ONLY"} for i in gsis.values()), "the template's default"
    assert table["StreamSpecification"]["StreamEnabled"] is True
    ttl = client.describe_time_to_live(TableName="memory")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == (
        "ENABLED",
        table_properties()["TimeToLiveSpecification"]["AttributeName"],
    )


def test_every_call_is_atomic_under_concurrency(embedded: EmbeddedDynamoDB) -> None:
    """Optimistic increments with conditional transactions from many threads: no update may be lost.

    Without the lock, moto can interleave two calls' condition checks and writes (seen as lost updates
    with a tiny thread switch interval); real DynamoDB never does.
    """
    client = _client(embedded.endpoint_url)
    client.create_table(
        TableName="race",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"PK": {"S": "counter"}}
    client.put_item(TableName="race", Item={**key, "n": {"N": "0"}})
    successes: list[int] = []

    def increment(times: int) -> None:
        for _ in range(times):
            while True:
                seen = client.get_item(TableName="race", Key=key, ConsistentRead=True)["Item"]["n"]["N"]
                put = {
                    "TableName": "race",
                    "Item": {**key, "n": {"N": str(int(seen) + 1)}},
                    "ConditionExpression": "n = :seen",
                    "ExpressionAttributeValues": {":seen": {"N": seen}},
                }
                try:
                    client.transact_write_items(TransactItems=[{"Put": put}])
                except client.exceptions.TransactionCanceledException:
                    continue
                successes.append(1)
                break

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # make interleaving inside moto as likely as possible
    try:
        threads = [threading.Thread(target=increment, args=(8,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    final = int(client.get_item(TableName="race", Key=key, ConsistentRead=True)["Item"]["n"]["N"])
    assert final == len(successes) == 64


def test_start_local_dynamodb_embedded_sets_and_clears_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    db = start_local_dynamodb("local-table")
    try:
        assert db.embedded is not None
        assert db.description == "embedded moto"
        assert db.endpoint_url.startswith("http://127.0.0.1:")
        assert os.environ[ENDPOINT_ENV] == db.endpoint_url
        assert "local-table" in _client(db.endpoint_url).list_tables()["TableNames"]
    finally:
        db.close()
    assert ENDPOINT_ENV not in os.environ


def test_start_local_dynamodb_uses_the_given_endpoint(
    embedded: EmbeddedDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, embedded.endpoint_url)
    db = start_local_dynamodb("given-table")
    try:
        assert db.embedded is None
        assert db.description == embedded.endpoint_url
        assert "given-table" in _client(embedded.endpoint_url).list_tables()["TableNames"]
    finally:
        db.close()
    again = start_local_dynamodb("given-table")  # the table exists now: no error
    again.close()
    assert os.environ[ENDPOINT_ENV] == embedded.endpoint_url
