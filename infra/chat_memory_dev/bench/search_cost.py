"""Search's cost and speed in `chat-memory bench`: per history length, DynamoDB calls and read units per search
(strongly and eventually consistent apart; DynamoDB's sizing rules, capacity.py), in-process p50/p95 through the
read handler, the round trips it waits for and its p50/p95 with a modeled network (ROUND_TRIP_MS per call), and
their ratios to a window read of the same session, once the indexer has indexed the session (and what its index
cost to write); plus evidence recall (retrieval.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

from chat_memory_dev.bench.capacity import CapacityRecorder

# What a search of each kind sends (the bench corpus talks about trips, food, work; any words do).
SEARCHES: Final[dict[str, tuple[dict[str, Any], str]]] = {
    "similarity": ({"text": "what did we decide about the trip and the hotel booking"}, "limit=10"),
    "mmr": ({"text": "hotel booking trip", "search_type": "mmr", "mmr_lambda": 0.5}, "limit=10"),
    "filter only": ({"metadata": {"start_date": "2000-01-01T00:00:00Z"}}, "limit=10"),
    "text and filter": ({"text": "hotel booking trip", "metadata": {"start_date": "2000-01-01T00:00:00Z"}}, "limit=10"),
    # The worst case of text with a filter: none of the candidates passes, so they are read until the budget ends.
    "text, filter none pass": (
        {"text": "hotel booking trip", "metadata": {"where": {"jsonpath": '$[*] ? (@.topic == "none")'}}},
        "limit=10",
    ),
    "summary scope": ({"text": "trip", "search_scope": "summary"}, "limit=5"),
}
CALL_CEILING: Final = 20


# What the network adds to each DynamoDB call from a Lambda function in the table's region (DynamoDB's own figure
# is "single-digit milliseconds"): a model, not a measurement of AWS.
ROUND_TRIP_MS: Final = 5.0


class CallSpans:
    """While attached, the span of every DynamoDB call of `client` (from botocore's `before-call`, the request
    built, to `before-parse`, the answer in: what DynamoDB itself, here the local engine, takes), each first waiting
    `ms` (a modeled network; calls made at once wait together, in their threads)."""

    def __init__(self, client: Any, ms: float = 0.0) -> None:
        self.spans: list[tuple[float, float]] = []
        self._client, self._seconds = client, ms / 1000
        self._started = threading.local()
        client.meta.events.register("before-call.dynamodb", self._leave, unique_id="bench-span-out")
        client.meta.events.register("before-parse.dynamodb", self._back, unique_id="bench-span-back")

    def _leave(self, **_: Any) -> None:
        self._started.at = time.perf_counter()
        if self._seconds:
            time.sleep(self._seconds)

    def _back(self, **_: Any) -> None:
        self.spans.append((self._started.at, time.perf_counter()))

    def round_trips(self) -> int:
        """The longest chain of calls each made after the one before it answered: the round trips waited for."""
        chain: list[tuple[float, int]] = []  # (end, longest chain ending with that call)
        for start, end in sorted(self.spans, key=lambda span: span[1]):
            chain.append((end, 1 + max((n for e, n in chain if e <= start), default=0)))
        return max((n for _, n in chain), default=0)

    def covered(self) -> float:
        """Milliseconds during which at least one call was in DynamoDB (overlapping spans counted once)."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans):
            total += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        return total * 1000

    def detach(self) -> None:
        self._client.meta.events.unregister("before-call.dynamodb", unique_id="bench-span-out")
        self._client.meta.events.unregister("before-parse.dynamodb", unique_id="bench-span-back")


def with_network(
    operation: Callable[[], object], client: Any, timed: Callable[[Callable[[], object]], float], runs: int
) -> dict[str, Any]:
    """The round trips `operation` waits for and its latency with ROUND_TRIP_MS added to every DynamoDB call; its
    time outside DynamoDB's (ours and botocore's, in-process); and a model of it on AWS: that time plus ROUND_TRIP_MS
    per round trip (the local engine's own time left out)."""
    outside: list[float] = []
    spans = CallSpans(client)
    try:
        for _ in range(runs):
            spans.spans.clear()
            outside.append(timed(operation) - spans.covered())
    finally:
        spans.detach()
    network = CallSpans(client, ROUND_TRIP_MS)
    try:
        operation()
        trips = network.round_trips()
        samples = [timed(operation) for _ in range(runs)]
    finally:
        network.detach()
    outside_ms = _p50_p95(outside)
    return {
        "round_trips": trips,
        "round_trip_ms": ROUND_TRIP_MS,
        "latency_ms": _p50_p95(samples),
        "outside_dynamodb_ms": outside_ms,
        "modeled_ms": round(outside_ms["p50"] + trips * ROUND_TRIP_MS, 3),
    }


def measure(
    search: Callable[[dict[str, Any], str], None],
    client: Any,
    recorder: CapacityRecorder,
    timed: Callable[[Callable[[], object]], float],
    runs: int,
) -> dict[str, Any]:
    """Per kind of search: one measured (calls, units by consistency), then `runs` timed."""
    figures: dict[str, Any] = {}
    for kind, (body, query) in SEARCHES.items():
        recorder.attach(client)
        mark = len(recorder.records)
        try:
            search(body, query)
        finally:
            recorder.detach()
        records = recorder.records[mark:]
        calls: dict[str, int] = {}
        for record in records:
            calls[record.operation] = calls.get(record.operation, 0) + 1
        samples = [timed(partial(search, body, query)) for _ in range(runs)]
        figures[kind] = {
            "calls": calls,
            "call_count": len(records),
            "strongly_consistent_calls": sum(r.consistent for r in records),
            "read_units": sum(r.read_units for r in records),
            "strongly_consistent_read_units": sum(r.read_units for r in records if r.consistent),
            "bytes_read": sum(r.bytes_read for r in records),
            "latency_ms": _p50_p95(samples),
            "with_network": with_network(partial(search, body, query), client, timed, runs),
        }
    return figures


def build_index(tenant: str, session_id: str, client: Any, recorder: CapacityRecorder) -> dict[str, Any]:
    """Run the indexer over the filled session until it is up to date, as its stream consumer would; its blocks
    sealed two minutes in the past (search reads blocks sealed in the last minute as messages, not from the index).
    Returns what it wrote: blocks, messages indexed, write units (per message)."""
    import time

    from chat_memory import wiring
    from chat_memory.service.indexer import IndexSession

    index = IndexSession(wiring.dynamo_store(), clock=lambda: time.time_ns() // 1_000 - 120_000_000)
    recorder.attach(client)
    mark = len(recorder.records)
    started = time.perf_counter()
    sealed = messages = 0
    try:
        while (report := index(tenant, session_id)).sealed:
            sealed, messages = sealed + report.sealed, messages + report.messages
    finally:
        recorder.detach()
    records = recorder.records[mark:]
    units = sum(r.write_units for r in records)
    return {
        "blocks": sealed,
        "messages_indexed": messages,
        "write_units": units,
        "write_units_per_message": round(units / messages, 3) if messages else 0.0,
        "bytes_written": sum(r.bytes_written for r in records),
        "calls": len(records),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _p50_p95(samples: Sequence[float]) -> dict[str, float]:
    from chat_memory_dev.stats import percentile

    return {"p50": round(percentile(samples, 50), 3), "p95": round(percentile(samples, 95), 3)}


def with_ratios(searches: dict[str, Any], window: dict[str, Any]) -> dict[str, Any]:
    """Each search's latency (in-process, and with the network's round trips) and read units over those of the
    window read (default window) of the same session (`window["with_network"]`: with_network's figures)."""
    base_ms = window["latency_ms"]["p50"] or 1e-9
    base_units = window["read_units"] or 1e-9
    base_network_ms = window["with_network"]["latency_ms"]["p50"] or 1e-9
    base_modeled_ms = window["with_network"]["modeled_ms"] or 1e-9
    for figures in searches.values():
        figures["p50_vs_window_read"] = round(figures["latency_ms"]["p50"] / base_ms, 2)
        figures["read_units_vs_window_read"] = round(figures["read_units"] / base_units, 2)
        network = figures["with_network"]
        network["p50_vs_window_read"] = round(network["latency_ms"]["p50"] / base_network_ms, 2)
        network["modeled_vs_window_read"] = round(network["modeled_ms"] / base_modeled_ms, 2)
        network["window_read"] = window["with_network"]
    return searches


def http_search(read_handler: Any, context: Any, session_id: str) -> Callable[[dict[str, Any], str], None]:
    """A search through the read function's handler, as API Gateway would send it; fails on any non-200."""
    from chat_memory_dev.bench.events import http_event

    def search(body: dict[str, Any], query: str) -> None:
        event = http_event("POST", f"/api/v2/sessions/{session_id}/search", body, query=query)
        reply = read_handler(event, context("ReadMemoryFunction", "s"))
        if reply["statusCode"] != 200:
            raise RuntimeError(f"search answered {reply['statusCode']}: {reply.get('body')}")
        json.loads(reply["body"])

    return search


def retrieval_quality() -> dict[str, Any]:
    """Evidence recall@5/10/20 of our ranker and the BM25 baseline over the shipped corpus, in this run."""
    from chat_memory_dev.bench.retrieval import evaluate

    figures = evaluate()
    return {
        "baseline": figures.baseline,
        "questions": figures.questions,
        "recall": {
            f"{ranker} {half}": {f"@{k}": round(v, 4) for k, v in r.items()}
            for (ranker, half), r in figures.recall.items()
        },
    }
