"""Token-budgeted memory reads in `chat-memory bench`: per history length and budget (GET memory?max_tokens=N
through the read handler), the messages and tokens it answered, DynamoDB calls, read units (DynamoDB's sizing
rules, capacity.py) and in-process p50/p95, next to the session's window read."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from chat_memory_dev.bench.capacity import CallTotals

BUDGETS: Final = (500, 2_000, 8_000)


def http_budget_read(read_handler: Any, context: Any, session_id: str) -> Callable[[int], tuple[int, int]]:
    """A memory read with a token budget through the read function's handler: (messages, tokens) it answered."""
    from chat_memory_dev.bench.events import http_event

    def read(max_tokens: int) -> tuple[int, int]:
        event = http_event("GET", f"/api/v2/sessions/{session_id}/memory", query=f"max_tokens={max_tokens}")
        reply = read_handler(event, context("ReadMemoryFunction", "b"))
        if reply["statusCode"] != 200:
            raise RuntimeError(f"memory read answered {reply['statusCode']}: {reply.get('body')}")
        headers = {name.lower(): value for name, value in reply.get("headers", {}).items()}
        return len(json.loads(reply["body"])["messages"]), int(headers["x-memory-tokens"])

    return read


def measure(
    read: Callable[[int], tuple[int, int]],
    measured: Callable[[Callable[[], tuple[int, int]]], tuple[tuple[int, int], CallTotals]],
    timed: Callable[[Callable[[], object]], float],
    latency: Callable[[list[float]], dict[str, Any]],
    runs: int,
) -> dict[str, Any]:
    """Per budget: one read measured (calls, read units), then `runs` timed."""
    figures: dict[str, Any] = {}
    for budget in BUDGETS:
        (messages, tokens), totals = measured(partial(read, budget))
        figures[str(budget)] = {
            "messages_returned": messages,
            "tokens_returned": tokens,
            "calls": dict(totals.calls),
            "call_count": totals.call_count,
            "read_units": totals.read_units,
            "bytes_read": totals.bytes_read,
            "latency_ms": latency([timed(partial(read, budget)) for _ in range(runs)]),
        }
    return figures
