"""The DynamoDB capacity a request consumed, as DynamoDB itself reports it (ReturnConsumedCapacity=TOTAL).

Every call of the functions' client asks for it; the totals of the calls made while `measure()` is active are
collected, so the API can answer with them (X-Consumed-Capacity) and publish them as metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_ACCOUNTED = _READS | {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass
class Consumption:
    read_units: float = 0.0
    write_units: float = 0.0
    calls: int = 0  # the accounted calls made (search keeps to a budget of them)

    def header(self) -> str:
        return f"read={self.read_units:g}; write={self.write_units:g}"


_current: ContextVar[Consumption | None] = ContextVar("consumption", default=None)
# Calls made at once (parallel.py) add to the same tally from several threads.
_adding = threading.Lock()


@contextmanager
def measure() -> Iterator[Consumption]:
    consumption = Consumption()
    token = _current.set(consumption)
    try:
        yield consumption
    finally:
        _current.reset(token)


def calls_made() -> int | None:
    """How many accounted calls the request being measured has made so far (None: none is measured)."""
    consumption = _current.get()
    return consumption.calls if consumption is not None else None


def ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore `provide-client-params` hook: every accounted call returns its consumed capacity (and is counted,
    once, whatever its retries)."""
    if model.name not in _ACCOUNTED:
        return
    params.setdefault("ReturnConsumedCapacity", "TOTAL")
    consumption = _current.get()
    if consumption is not None:
        with _adding:
            consumption.calls += 1


def _units(entry: Mapping[str, Any], read: bool) -> float:
    specific = entry.get("ReadCapacityUnits" if read else "WriteCapacityUnits")
    return float(specific if specific is not None else entry.get("CapacityUnits", 0.0))


def record_capacity(http_response: Any, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
    """botocore `after-call` hook: add the call's ConsumedCapacity to the request being measured."""
    consumption = _current.get()
    if consumption is None or model.name not in _ACCOUNTED:
        return
    reported = parsed.get("ConsumedCapacity") or []
    entries = reported if isinstance(reported, list) else [reported]
    read = model.name in _READS
    total = sum(_units(entry, read) for entry in entries)
    with _adding:
        if read:
            consumption.read_units += total
        else:
            consumption.write_units += total
