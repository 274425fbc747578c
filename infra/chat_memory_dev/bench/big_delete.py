"""How long deleting a big session takes: `python -m chat_memory_dev.bench.big_delete [--messages 100000]`.

Creates one session through the store, adds the rest of its messages straight into an in-process moto table
(BatchWriteItem: moto's transactions slow down as a partition grows), then times the DELETE handler (what the
caller waits for) and the purger handler (the background part), and counts the DynamoDB calls of each. moto is
slower than DynamoDB per call, so the times are upper bounds for the same calls.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

TABLE = "big-delete"
_DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": TABLE,
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_memory_dev.bench.big_delete", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the session (%(default)s)")
    args = parser.parse_args(argv)

    for name, value in _DUMMY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    # Imported only now: Powertools' logger and tracer read the environment above when the handlers load.
    import boto3

    from chat_memory.adapters.dynamodb import keys
    from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
    from chat_memory.domain.models import CountedMessage, NewMessage, RoleType
    from chat_memory.handlers import purger, writes
    from chat_memory_dev.local.runtime import FakeLambdaContext
    from chat_memory_dev.localdb.dynamodb import create_table_from_template
    from chat_memory_dev.localdb.engine import mock_dynamodb

    with mock_dynamodb():
        client = boto3.client("dynamodb")
        create_table_from_template(client, TABLE)
        store = DynamoMemoryStore(TABLE, client=client)
        started = time.perf_counter()
        first = CountedMessage(NewMessage(role="r", role_type=RoleType.USER, content="message 0"), 3)
        (added,) = store.append_messages("default", "big", [first], None, None)
        _fill_session(client, keys.session_pk("default", "big"), added.ts, args.messages)
        print(f"filled {args.messages} messages in {time.perf_counter() - started:.0f} s")

        calls = _count_calls()
        event = _delete_event()
        started = time.perf_counter()
        reply = writes.lambda_handler(event, FakeLambdaContext("SessionsFunction", str(uuid.uuid4())))
        elapsed = time.perf_counter() - started
        print(f"DELETE answered {reply['statusCode']} in {elapsed * 1000:.0f} ms with {dict(calls)} (moto)")

        tombstone = client.get_item(
            TableName=TABLE, Key={"PK": {"S": keys.session_pk("default", "big")}, "SK": {"S": "SESSION"}}
        )["Item"]
        record = _stream_record(tombstone)
        calls.clear()
        started = time.perf_counter()
        result = purger.lambda_handler({"Records": [record]}, FakeLambdaContext("PurgerFunction", "purge"))
        elapsed = time.perf_counter() - started
        left = client.scan(TableName=TABLE, Select="COUNT")["Count"]
        print(f"purge: {result} in {elapsed:.0f} s with {dict(calls)}; items left: {left}")
    return 0


def _fill_session(client: Any, pk: str, first_ts: int, messages: int) -> None:
    """Messages 1 to `messages` - 1 after the first (at `first_ts`), straight into the table, 25 per batch."""
    from chat_memory.adapters.dynamodb import keys

    for start in range(1, messages, 25):
        requests: list[Any] = [
            {"PutRequest": {"Item": {
                "PK": {"S": pk}, "SK": {"S": keys.message_sk(first_ts + i)}, "MsgUuid": {"S": str(uuid.uuid4())},
                "role": {"S": "r"}, "role_type": {"S": "user"}, "content": {"S": f"message {i}"},
                "token_count": {"N": "3"},
            }}}
            for i in range(start, min(start + 25, messages))
        ]  # fmt: skip
        client.batch_write_item(RequestItems={TABLE: requests})
    # The session item's last_ts covers them, as if they had been added through the API.
    client.update_item(
        TableName=TABLE,
        Key={"PK": {"S": pk}, "SK": {"S": keys.SESSION_SK}},
        UpdateExpression="SET last_ts = :t",
        ExpressionAttributeValues={":t": {"N": str(first_ts + messages)}},
    )


def _count_calls() -> Counter[str]:
    """The DynamoDB calls of the handlers' client from now on, by operation."""
    from chat_memory.adapters.dynamodb.client import dynamodb_client

    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    dynamodb_client().meta.events.register("provide-client-params.dynamodb.*", count)
    return calls


def _delete_event() -> dict[str, Any]:
    """The HTTP API event of `DELETE /api/v2/sessions/big/memory`."""
    return {
        "version": "2.0",
        "routeKey": "DELETE /api/v2/sessions/{sessionId}/memory",
        "rawPath": "/api/v2/sessions/big/memory",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "DELETE", "path": "/api/v2/sessions/big/memory"},
            "stage": "$default",
            "requestId": str(uuid.uuid4()),
        },
        "isBase64Encoded": False,
    }


def _stream_record(tombstone: dict[str, Any]) -> dict[str, Any]:
    """The stream record of the session item's MODIFY into a tombstone (what starts the purger)."""
    return {
        "eventID": "1",
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {"Keys": {"PK": tombstone["PK"], "SK": tombstone["SK"]}, "NewImage": tombstone,
                     "SequenceNumber": "1", "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
