"""Every API response says what it cost in DynamoDB capacity, as DynamoDB reported it (X-Consumed-Capacity)."""

import re
from typing import Any

from chat_memory.adapters.dynamodb.client import dynamodb_client
from tests.integration.conftest import CallLog, Invoke

HEADER = re.compile(r"^read=(?P<read>[0-9.]+); write=(?P<write>[0-9.]+)$")


def _parse(value: str) -> tuple[float, float]:
    match = HEADER.match(value)
    assert match, value
    return float(match["read"]), float(match["write"])


def test_each_response_carries_the_capacity_dynamodb_reported(api: Invoke, calls: CallLog) -> None:
    reported: list[tuple[str, float]] = []

    def remember(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        entries = parsed.get("ConsumedCapacity") or []
        for entry in entries if isinstance(entries, list) else [entries]:
            reported.append((model.name, float(entry.get("CapacityUnits", 0.0))))

    dynamodb_client().meta.events.register("after-call.dynamodb.*", remember, unique_id="remember")
    try:
        write = api("POST", "/api/v2/sessions", {"session_id": "cost"})  # GetItem + PutItem
        write_reported = list(reported)
        reported.clear()
        read = api("GET", "/api/v2/sessions/cost/memory")
        read_reported = list(reported)
    finally:
        dynamodb_client().meta.events.unregister("after-call.dynamodb.*", unique_id="remember")

    assert all(params.get("ReturnConsumedCapacity") == "TOTAL" for _, params in calls.calls), "every call asks"
    assert write_reported, "moto reports a ConsumedCapacity when asked (a constant: only the plumbing is tested)"
    read_units, write_units = _parse(write.headers["X-Consumed-Capacity"])
    assert read_units == sum(units for op, units in write_reported if op == "GetItem")
    assert write_units == sum(units for op, units in write_reported if op == "PutItem")
    assert write_units > 0  # (moto reports nothing for TransactWriteItems: the header would say write=0 there)
    assert _parse(read.headers["X-Consumed-Capacity"]) == (sum(units for _, units in read_reported), 0.0)


def test_errors_carry_it_too(api: Invoke) -> None:
    reply = api("GET", "/api/v2/sessions/nobody/memory")
    assert reply.status == 404
    read_units, write_units = _parse(reply.headers["X-Consumed-Capacity"])
    assert read_units > 0
    assert write_units == 0
