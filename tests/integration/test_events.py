"""The checked-in events/*.json (for `sam local invoke -e`) run through their handlers against moto."""

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from chat_memory_dev.gen.events import EVENTS_DIR, stale_event_files
from chat_memory_dev.local.runtime import FakeLambdaContext
from chat_memory_dev.local.stream import record_passes_filters
from chat_memory_dev.template import http_routes, stream_consumers
from tests.http_events import FakeContext, http_event
from tests.integration.conftest import all_items, data_items, receipts

EVENT_NAMES = (
    "health",
    "writes",
    "add_memory",
    "reads",
    "not_served",
    "console",
    "summariser",
    "embedder",
    "indexer",
    "purger",
)


def _load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return event


def _invoke(name: str) -> dict[str, Any]:
    event = _load(name)
    key = event["routeKey"]
    [route] = [r for r in http_routes() if (r.path if key == "$default" else f"{r.method} {r.path}") == key]
    module_name, _, attr = route.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attr)
    result: dict[str, Any] = handler(event, FakeLambdaContext(route.function, event["requestContext"]["requestId"]))
    return result


def test_every_function_has_an_event_file() -> None:
    handlers = [r.handler for r in http_routes()] + [c.handler for c in stream_consumers()]
    modules = {h.rsplit(".", 2)[-2] for h in handlers}
    assert modules == {p.stem for p in Path(EVENTS_DIR).glob("*.json")} == set(EVENT_NAMES)


def test_event_files_are_up_to_date() -> None:
    assert stale_event_files() == [], "run: python -m chat_memory_dev.gen.events"


@pytest.mark.usefixtures("ddb")
def test_events_run_against_moto() -> None:
    health = _invoke("health")
    assert (health["statusCode"], health["body"]) == (200, ".")

    created = _invoke("writes")
    assert created["statusCode"] == 201, created
    session = json.loads(created["body"])
    assert session["session_id"] == "octavia-butler"
    assert session["metadata"] == json.loads(_load("writes")["body"])["metadata"]

    written = _invoke("add_memory")
    assert written["statusCode"] == 201, written

    read = _invoke("reads")
    assert read["statusCode"] == 200, read
    memory = json.loads(read["body"])
    sent = json.loads(_load("add_memory")["body"])["messages"]
    assert [(m["role"], m["content"]) for m in memory["messages"]] == [(m["role"], m["content"]) for m in sent]
    assert memory["messages"][2]["metadata"] == {"foo": "bar"}
    assert memory["summary"] is None


def test_the_console_event_gets_the_page() -> None:
    answer = _invoke("console")
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>chat-memory console</title>" in answer["body"]


def test_the_not_served_event_says_the_route_is_not_served() -> None:
    answer = _invoke("not_served")
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"]) == {
        "message": "route not served by chat-memory: GET /api/v2/sessions/octavia-butler"
        "/facts (see the API's OpenAPI document for what is served)"
    }


@pytest.mark.usefixtures("ddb")
def test_write_event_alone_creates_the_session() -> None:
    assert _invoke("add_memory")["statusCode"] == 201
    read = _invoke("reads")
    assert read["statusCode"] == 200
    assert len(json.loads(read["body"])["messages"]) == 3


@pytest.mark.usefixtures("ddb")
def test_summariser_event_runs_against_moto() -> None:
    from chat_memory.handlers import summariser

    assert _invoke("add_memory")["statusCode"] == 201
    event = _load("summariser")
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in event["Records"]] == ["T#default#S#octavia-butler"] * 3
    result = summariser.lambda_handler(event, FakeLambdaContext("SummariserFunction", "stream-batch"))
    assert result == {"batchItemFailures": []}
    read = json.loads(_invoke("reads")["body"])
    assert read["summary"] is None, "three messages are fewer than W: nothing to summarise yet"


def test_indexer_event_is_what_the_indexers_filter_lets_through_and_runs_against_moto(ddb: Any) -> None:
    from chat_memory.handlers import indexer

    consumers = {c.function: c for c in stream_consumers()}
    event = _load("indexer")
    assert all(record_passes_filters(consumers["IndexerFunction"].filter_patterns, r) for r in event["Records"])
    assert _invoke("add_memory")["statusCode"] == 201
    result = indexer.lambda_handler(event, FakeLambdaContext("IndexerFunction", "stream-batch"))
    assert result == {"batchItemFailures": []}
    assert not [i for i in all_items(ddb) if i["SK"]["S"].startswith(("IDX#", "INDEX"))], "3 messages: no block yet"


def _delete_example_session() -> dict[str, Any]:
    from chat_memory.handlers import writes

    result: dict[str, Any] = writes.lambda_handler(
        http_event("DELETE", "/api/v2/sessions/octavia-butler/memory"), FakeContext()
    )
    return result


def _purge(event: dict[str, Any]) -> Any:
    from chat_memory.handlers import purger

    return purger.lambda_handler(event, FakeLambdaContext("PurgerFunction", "stream-batch", 900_000))


def test_embedder_event_is_what_the_embedders_filter_lets_through() -> None:
    consumers = {c.function: c for c in stream_consumers()}
    records = _load("embedder")["Records"]
    assert records and all(record_passes_filters(consumers["EmbedderFunction"].filter_patterns, r) for r in records)


def test_purger_event_is_what_the_purgers_filter_lets_through() -> None:
    consumers = {c.function: c for c in stream_consumers()}
    [record] = _load("purger")["Records"]
    assert record_passes_filters(consumers["PurgerFunction"].filter_patterns, record)
    assert not record_passes_filters(consumers["SummariserFunction"].filter_patterns, record)


def test_purger_event_runs_against_moto(ddb: Any) -> None:
    """writes.json creates the session, DELETE buries it, purger.json (that tombstone's record) purges it."""
    assert _invoke("writes")["statusCode"] == 201
    deleted = _delete_example_session()
    assert deleted["statusCode"] == 200, deleted
    assert _invoke("reads")["statusCode"] == 404  # unreadable at once, before any purge

    event = _load("purger")
    [record] = event["Records"]
    image = record["dynamodb"]["NewImage"]
    [tombstone] = all_items(ddb)
    assert tombstone["deleted"] == {"BOOL": True}
    # The file's image is the tombstone this sequence leaves (ids and times aside): same attributes, same values.
    assert set(tombstone) == set(image)
    for name in ("PK", "SK", "tenant", "session_id", "version", "message_count", "metadata", "deleted_reason"):
        assert tombstone[name] == image[name], name
    for stored in (tombstone, image):  # no message yet: a new session starts at its creation, nothing before it
        assert int(stored["first_ts"]["N"]) == int(stored["created_ts"]["N"]) == int(stored["last_ts"]["N"]) + 1

    assert _purge(event) == {"batchItemFailures": []}
    assert data_items(ddb) == []  # the tombstone too: nothing of the session is left
    assert [r["reason"] for r in receipts(ddb)] == ["delete"]  # but its receipt
    assert _invoke("reads")["statusCode"] == 404
    assert _invoke("writes")["statusCode"] == 201  # the id is free again


def test_purger_event_replayed_after_the_session_is_recreated_purges_nothing(ddb: Any) -> None:
    """The stream may deliver a record again (retries, bisection, replays): a stale tombstone record must never
    touch a live session, whatever its version has become."""
    assert _invoke("writes")["statusCode"] == 201
    assert _delete_example_session()["statusCode"] == 200
    event = _load("purger")
    assert _purge(event) == {"batchItemFailures": []}

    assert _invoke("writes")["statusCode"] == 201  # a new session with the same id...
    assert _invoke("add_memory")["statusCode"] == 201  # ...whose version passes the stale record's
    before = all_items(ddb)
    assert _purge(event) == {"batchItemFailures": []}
    assert sorted(map(str, all_items(ddb))) == sorted(map(str, before))
    read = _invoke("reads")
    assert read["statusCode"] == 200
    assert len(json.loads(read["body"])["messages"]) == 3
