"""The DynamoDB client: created on first use (so moto can start first) and cached for warm invocations."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from chat_memory.adapters.dynamodb.consumed import ask_for_capacity, record_capacity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Bounded retries with jitter ("standard" mode) that fit well inside an API Gateway request's 30 s.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


@cache
def dynamodb_client() -> DynamoDBClient:
    # AWS_ENDPOINT_URL_DYNAMODB, when set, is honoured by botocore itself.
    client = boto3.client("dynamodb", config=_CONFIG)
    client.meta.events.register("provide-client-params.dynamodb.*", ask_for_capacity)
    client.meta.events.register("after-call.dynamodb.*", record_capacity)
    return client
