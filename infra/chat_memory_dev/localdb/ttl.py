"""DynamoDB's Time to Live for the local DynamoDB: moto never deletes expired items. `sweep_expired` deletes the
items whose TTL attribute (`expires_at`, epoch seconds) has passed, each with a conditional DeleteItem, and their
REMOVE stream records carry DynamoDB's TTL identity (userIdentity: Service, dynamodb.amazonaws.com), so the
purger's event filter takes them as on AWS. `TtlSweeper` runs it every `interval` seconds (`chat-memory serve`).

Unlike DynamoDB (which deletes within days, usually within 48 hours, and never scans on your bill) it scans the
table: a local table is small, and the sweep runs once a minute by default.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Final

from botocore.exceptions import ClientError

from chat_memory_dev.localdb.streams import expiring, ttl_key

TTL_ATTRIBUTE: Final = "expires_at"  # template.yaml's TimeToLiveSpecification
SWEEP_INTERVAL_S: Final = 60.0


def sweep_expired(client: Any, table_name: str, now_s: int | None = None) -> int:
    """Delete the items of `table_name` whose `expires_at` is at or before `now_s` (default: now); how many."""
    now = int(time.time()) if now_s is None else now_s
    values = {":now": {"N": str(now)}}
    names = {"#ttl": TTL_ATTRIBUTE}
    scan: dict[str, Any] = {
        "TableName": table_name,
        # Compared here: moto fails a filter that compares a number with another type (DynamoDB says false).
        "FilterExpression": "attribute_exists(#ttl)",
        "ProjectionExpression": "PK, SK, #ttl",
        "ExpressionAttributeNames": names,
    }
    deleted = 0
    while True:
        page = client.scan(**scan)
        for item in page.get("Items", []):
            expires = item[TTL_ATTRIBUTE].get("N")
            if expires is None or int(float(expires)) > now:
                continue  # not yet, or not a number (DynamoDB's TTL ignores it)
            deleted += _expire(client, table_name, item, names, values)
        if "LastEvaluatedKey" not in page:
            return deleted
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _expire(client: Any, table_name: str, item: dict[str, Any], names: dict[str, str], values: Any) -> int:
    key = {"PK": item["PK"], "SK": item["SK"]}
    marked = ttl_key(table_name, item["PK"]["S"], item["SK"]["S"])
    expiring(marked)
    try:
        # Only if it is still expired: a writer may have given it a new expiry since the scan.
        client.delete_item(
            TableName=table_name,
            Key=key,
            ConditionExpression="#ttl <= :now",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return 0
    finally:
        expiring(marked, done=True)
    return 1


class TtlSweeper:
    """Runs `sweep_expired` on a daemon thread every `interval` seconds until `stop()`."""

    def __init__(self, client: Any, table_name: str, interval: float = SWEEP_INTERVAL_S) -> None:
        self._client = client
        self._table = table_name
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swept = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ttl-sweeper", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.swept += sweep_expired(self._client, self._table)
            except Exception as exc:  # a failed sweep is retried at the next round, as TTL would
                print(f"chat-memory: the TTL sweep failed ({exc}); retrying in {self._interval:g} s", file=sys.stderr)
