"""moto-backed fixtures: the real handlers against an in-process DynamoDB built from template.yaml."""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from chat_memory import wiring
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory_dev.local.server import LAMBDA_RESPONSE_BYTES
from chat_memory_dev.localdb.dynamodb import create_table_from_template
from chat_memory_dev.localdb.engine import mock_dynamodb
from tests.http_events import FakeContext, Reply, http_event, route_handler

TABLE = "chat-memory-test"


@pytest.fixture
def ddb() -> Iterator[Any]:
    """A fresh moto DynamoDB with the table of template.yaml; the handlers' cached clients are reset."""
    wiring.reset()
    with mock_dynamodb():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_template(client, TABLE)
        yield client
    wiring.reset()


@dataclass
class CallLog:
    """DynamoDB calls made through the handlers' client, recorded with botocore's event hooks."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [params for op, params in self.calls if op == operation]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def calls(ddb: Any) -> CallLog:
    log = CallLog()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        log.calls.append((model.name, params))

    dynamodb_client().meta.events.register("provide-client-params.dynamodb.*", record)
    return log


Invoke = Callable[..., Reply]


@pytest.fixture
def api(ddb: Any) -> Invoke:
    """Call the right handler for a method and path, as API Gateway would route it."""

    def invoke(
        method: str,
        raw_path: str,
        body: Any = None,
        query: str = "",
        raw_body: str | None = None,
        tenant: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        handler = route_handler(method, raw_path)
        result = handler(http_event(method, raw_path, body, query, raw_body, tenant, headers), FakeContext())
        # Every answer of every test: Lambda refuses a result over its response payload (the runtime's json.dumps).
        assert len(json.dumps(result).encode()) <= LAMBDA_RESPONSE_BYTES, "on AWS this answer would be a 500"
        text = result.get("body") or ""
        plain = str(result.get("headers", {}).get("Content-Type", "")).startswith("text/")  # API v1's `OK`
        return Reply(
            result["statusCode"], result.get("headers", {}), text if plain else json.loads(text) if text else None
        )

    return invoke


def all_items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def is_receipt(item: dict[str, Any]) -> bool:
    """A deletion receipt (what every purge leaves, on purpose: see test_retention.py)."""
    return str(item["PK"]["S"]).endswith("#DELETIONS")


def data_items(client: Any) -> list[dict[str, Any]]:
    """Every item but the deletion receipts."""
    return [i for i in all_items(client) if not is_receipt(i)]


def receipts(client: Any) -> list[dict[str, str]]:
    """The deletion receipts: (session id, reason) of each, oldest first."""
    return [
        {"session_id": i["session_id"]["S"], "reason": i["reason"]["S"]}
        for i in sorted(all_items(client), key=lambda i: (i["PK"]["S"], i["SK"]["S"]))
        if is_receipt(i)
    ]


def tombstone_event(client: Any) -> dict[str, Any]:
    """The stream records the purger would get: every tombstone in the table, as a MODIFY with its new image."""
    records = [
        {
            "eventID": uuid.uuid4().hex,
            "eventName": "MODIFY",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"PK": item["PK"], "SK": item["SK"]},
                "NewImage": item,
                "SequenceNumber": f"{n + 1:021d}",
                "SizeBytes": 100,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/stream/2026",
        }
        for n, item in enumerate(i for i in all_items(client) if i.get("deleted", {}).get("BOOL"))
    ]
    return {"Records": records}


def run_purger(client: Any) -> dict[str, Any]:
    """Run the purger handler on the table's tombstones, as the stream would."""
    from chat_memory.handlers import purger

    result: dict[str, Any] = dict(purger.lambda_handler(tombstone_event(client), FakeContext()))
    return result
