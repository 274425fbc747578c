"""Idempotency-Key on writes (issue 7 item 2), through the real handlers against moto.

The same key again returns the first answer and stores nothing twice; the same key with another body is 422; a
first request still running is 409; only 2xx answers are remembered; records live in the memory table, one
partition each, expire, and are seen by no listing and no stream consumer.
"""

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.api.idempotency import REPLAYED_HEADER
from chat_memory_dev.local.server import API_KEY_ENV
from chat_memory_dev.local.stream import record_passes_filters
from chat_memory_dev.template import load_template, stream_consumers
from tests.http_events import FakeContext, Reply
from tests.integration.conftest import TABLE, CallLog, Invoke, all_items
from tests.integration.test_local_api_key import _serve, _server_env

RECORD_PK = re.compile(r"^T#(?P<tenant>[^#]+)#IDEMPOTENCY#[0-9a-f]{64}$")
MEMORY = "/api/v2/sessions/s1/memory"
DAY = 86_400


def _messages(*contents: str) -> dict[str, Any]:
    return {"messages": [{"role": "Jane", "role_type": "user", "content": c} for c in contents]}


def _key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def _records(client: Any) -> list[dict[str, Any]]:
    return [i for i in all_items(client) if i["SK"]["S"] == keys.IDEMPOTENCY_SK]


def _data(client: Any) -> list[dict[str, Any]]:
    """Every item but the idempotency records: what the API stored."""
    return [i for i in all_items(client) if i["SK"]["S"] != keys.IDEMPOTENCY_SK]


def _message_contents(client: Any) -> list[str]:
    return sorted(i["content"]["S"] for i in all_items(client) if i["SK"]["S"].startswith(keys.MESSAGE_SK_PREFIX))


def _replayed(reply: Reply) -> bool:
    return reply.headers.get(REPLAYED_HEADER) == "true"


@contextlib.contextmanager
def _throttled(
    operation: str, code: str = "ThrottlingException", when: Callable[[dict[str, Any]], bool] = lambda _: True
) -> Iterator[dict[str, bool]]:
    """While `state["on"]`, the handlers' `operation` calls (those `when(request)` selects) are refused as
    throttled, as after botocore's retries."""
    state = {"on": True}

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        if not (state["on"] and when(params)):
            return None
        http = type("Throttled", (), {"status_code": 400, "headers": {}})()
        return http, {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}

    events = dynamodb_client().meta.events
    events.register(f"before-call.dynamodb.{operation}", refuse, unique_id="throttle")
    try:
        yield state
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", unique_id="throttle")


# --- replay ------------------------------------------------------------------------------------------------


def test_the_same_key_twice_stores_once_and_replays_the_first_answer(api: Invoke, ddb: Any) -> None:
    first = api("POST", MEMORY, _messages("a", "b"), headers=_key("add-1"))
    assert first.status == 201, first.body
    assert not _replayed(first)
    stored = _data(ddb)

    second = api("POST", MEMORY, _messages("a", "b"), headers=_key("add-1"))
    assert (second.status, second.body) == (first.status, first.body)
    assert _replayed(second)
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert _data(ddb) == stored
    assert _message_contents(ddb) == ["a", "b"]
    window = api("GET", MEMORY)
    assert [m["content"] for m in window.body["messages"]] == ["a", "b"]


def test_without_the_header_nothing_changes(api: Invoke, ddb: Any) -> None:
    for _ in range(2):
        reply = api("POST", MEMORY, _messages("a"))
        assert reply.status == 201 and not _replayed(reply)
    assert _message_contents(ddb) == ["a", "a"]  # server-made uuids: two messages
    assert _records(ddb) == []


def test_the_same_key_with_a_different_body_is_422_and_stores_nothing(api: Invoke, ddb: Any) -> None:
    assert api("POST", MEMORY, _messages("a"), headers=_key("k")).status == 201
    before = all_items(ddb)
    reply = api("POST", MEMORY, _messages("b"), headers=_key("k"))
    assert reply.status == 422
    assert reply.body == {
        "message": "this Idempotency-Key was already used for a request with a different body; use a new key"
    }
    assert all_items(ddb) == before  # neither the messages nor the record changed
    assert api("POST", MEMORY, _messages("a"), headers=_key("k")).status == 201  # the first body still replays


def test_the_key_is_scoped_to_the_route_and_the_tenant(api: Invoke, ddb: Any) -> None:
    body = _messages("a")
    assert not _replayed(api("POST", MEMORY, body, headers=_key("shared")))
    assert not _replayed(api("POST", "/api/v2/sessions/s2/memory", body, headers=_key("shared")))  # other path
    assert not _replayed(api("POST", MEMORY, body, headers=_key("shared"), tenant="other"))  # other tenant
    assert _replayed(api("POST", MEMORY, body, headers=_key("shared"), tenant="other"))
    records = _records(ddb)
    tenants = sorted(m.group("tenant") for r in records if (m := RECORD_PK.match(r["PK"]["S"])))
    assert tenants == ["default", "default", "other"]
    assert len({r["PK"]["S"] for r in records}) == 3  # a partition each
    assert len(_message_contents(ddb)) == 3


def test_a_key_is_case_sensitive(api: Invoke, ddb: Any) -> None:
    assert not _replayed(api("POST", MEMORY, _messages("a"), headers=_key("Key")))
    assert not _replayed(api("POST", MEMORY, _messages("a"), headers=_key("key")))


# --- the record ---------------------------------------------------------------------------------------------


def test_the_record_has_its_own_partition_no_index_keys_and_expires_in_a_day(api: Invoke, ddb: Any) -> None:
    before = int(time.time())
    api("POST", MEMORY, _messages("a"), headers=_key("k"))
    after = int(time.time())
    [record] = _records(ddb)
    assert RECORD_PK.match(record["PK"]["S"])
    assert set(record) == {"PK", "SK", keys.TTL_ATTR, "status", "in_progress_expiration", "validation", "data"}
    assert record["status"] == {"S": "COMPLETED"}
    assert before + DAY <= int(record[keys.TTL_ATTR]["N"]) <= after + DAY
    assert load_template()["Resources"]["MemoryTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": keys.TTL_ATTR,
        "Enabled": True,
    }


def test_the_expiry_comes_from_the_settings(api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_EXPIRY_SECONDS", "120")
    before = int(time.time())
    api("POST", MEMORY, _messages("a"), headers=_key("k"))
    [record] = _records(ddb)
    assert before + 120 <= int(record[keys.TTL_ATTR]["N"]) <= int(time.time()) + 120


def test_an_expired_record_runs_the_request_again(api: Invoke, ddb: Any) -> None:
    api("POST", MEMORY, _messages("a"), headers=_key("k"))
    [record] = _records(ddb)
    expired = int(time.time()) - 1  # Powertools checks expiry itself: TTL deletion may come days later
    ddb.put_item(TableName=TABLE, Item={**record, keys.TTL_ATTR: {"N": str(expired)}})
    again = api("POST", MEMORY, _messages("a"), headers=_key("k"))
    assert again.status == 201 and not _replayed(again)
    assert _message_contents(ddb) == ["a", "a"]
    assert _replayed(api("POST", MEMORY, _messages("a"), headers=_key("k")))  # remembered again


def test_records_appear_in_no_listing(api: Invoke, ddb: Any) -> None:
    api("POST", "/api/v2/users", {"user_id": "u1"}, headers=_key("u"))
    api("POST", "/api/v2/sessions", {"session_id": "s1", "user_id": "u1"}, headers=_key("s"))
    api("POST", MEMORY, _messages("a"), headers=_key("m"))
    assert len(_records(ddb)) == 3
    for record in _records(ddb):
        assert not {keys.GSI1_PARTITION_KEY, keys.GSI2_PARTITION_KEY, keys.MESSAGE_UUID_ATTR} & set(record)
    assert [s["session_id"] for s in api("GET", "/api/v2/sessions").body] == ["s1"]
    assert [u["user_id"] for u in api("GET", "/api/v2/users").body] == ["u1"]
    assert [s["session_id"] for s in api("GET", "/api/v2/users/u1/sessions").body] == ["s1"]


def _stream_record(event_name: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> dict[str, Any]:
    item = new or old or {}
    dynamodb: dict[str, Any] = {"Keys": {"PK": item["PK"], "SK": item["SK"]}, "SequenceNumber": "1"}
    dynamodb.update({"NewImage": new} if new else {})
    dynamodb.update({"OldImage": old} if old else {})
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


def test_records_reach_no_stream_consumer(api: Invoke, ddb: Any) -> None:
    """The stream records of an idempotency record's life (inserted in progress, completed, deleted after a
    failed write or by TTL), built from the real items, against the template's filters."""
    in_progress = _in_progress_record(api, ddb, "ok")
    api("POST", MEMORY, _messages("a"), headers=_key("ok"))
    [completed] = _records(ddb)
    message = next(i for i in all_items(ddb) if i["SK"]["S"].startswith(keys.MESSAGE_SK_PREFIX))
    ours = [
        _stream_record("INSERT", in_progress, None),
        _stream_record("MODIFY", completed, in_progress),
        _stream_record("REMOVE", None, in_progress),
        _stream_record("REMOVE", None, completed),
    ]
    consumers = stream_consumers()
    assert {c.function for c in consumers} == {
        "SummariserFunction",
        "PurgerFunction",
        "EmbedderFunction",
        "IndexerFunction",
    }
    for consumer in consumers:
        assert not any(record_passes_filters(consumer.filter_patterns, r) for r in ours), consumer.function
    # The check can fail: a message insert built the same way reaches the summariser.
    assert any(record_passes_filters(c.filter_patterns, _stream_record("INSERT", message, None)) for c in consumers)


# --- what is remembered ---------------------------------------------------------------------------------------


def test_a_503_is_not_remembered_and_the_retry_stores_once(api: Invoke, ddb: Any) -> None:
    with _throttled("TransactWriteItems", "ProvisionedThroughputExceededException") as throttling:
        refused = api("POST", MEMORY, _messages("a"), headers=_key("k"))
        assert refused.status == 503, refused.body
        assert refused.headers["Retry-After"] == "1"
        assert _records(ddb) == [] and _data(ddb) == []
        assert api("POST", MEMORY, _messages("a"), headers=_key("k")).status == 503  # not replayed: ran again

        throttling["on"] = False  # the store recovers
        retry = api("POST", MEMORY, _messages("a"), headers=_key("k"))
    assert retry.status == 201 and not _replayed(retry)
    assert _replayed(api("POST", MEMORY, _messages("a"), headers=_key("k")))
    assert _message_contents(ddb) == ["a"]


def test_a_4xx_is_not_remembered(api: Invoke, ddb: Any) -> None:
    bad = api("POST", MEMORY, {"messages": "not a list"}, headers=_key("k"))
    assert bad.status == 400
    assert _records(ddb) == []
    fixed = api("POST", MEMORY, _messages("a"), headers=_key("k"))  # another body, same key: not a 422
    assert fixed.status == 201 and not _replayed(fixed)
    missing = api("PATCH", "/api/v2/sessions/nope", {"metadata": {"a": 1}}, headers=_key("p"))
    assert missing.status == 404
    assert api("PATCH", "/api/v2/sessions/nope", {"metadata": {"a": 1}}, headers=_key("p")).status == 404
    assert len(_records(ddb)) == 1


def test_a_throttled_idempotency_store_is_a_503_and_nothing_runs(api: Invoke, ddb: Any) -> None:
    with _throttled("PutItem"):
        reply = api("POST", MEMORY, _messages("a"), headers=_key("k"))
    assert reply.status == 503 and reply.headers["Retry-After"] == "1"
    assert reply.body == {"message": "the memory store is busy; retry shortly"}
    assert all_items(ddb) == []


def test_a_write_whose_record_cannot_be_completed_still_answers_what_it_did(api: Invoke, ddb: Any) -> None:
    """The write committed but recording its answer was throttled: the caller gets the write's own answer (a 503
    would invite a retry); the record stays in progress, so a quick retry is a 409, not a second write."""
    with _throttled("UpdateItem", when=lambda request: keys.IDEMPOTENCY_SK.encode() in request["body"]):
        reply = api("POST", MEMORY, _messages("a"), headers=_key("k"))
    assert reply.status == 201 and not _replayed(reply)
    assert _message_contents(ddb) == ["a"]
    [record] = _records(ddb)
    assert record["status"] == {"S": "INPROGRESS"}
    assert api("POST", MEMORY, _messages("a"), headers=_key("k")).status == 409
    assert _message_contents(ddb) == ["a"]


# --- in progress ----------------------------------------------------------------------------------------------


def _in_progress_record(api: Invoke, ddb: Any, key: str) -> dict[str, Any]:
    """The in-progress record of a POST with `key`, as it was while the write ran (captured, then the table is
    set back to the state before the request)."""
    seen: list[dict[str, Any]] = []
    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", lambda **_: seen.extend(_records(ddb)), unique_id="peek")
    try:
        assert api("POST", MEMORY, _messages("a"), headers=_key(key)).status == 201
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="peek")
    for item in all_items(ddb):
        ddb.delete_item(TableName=TABLE, Key={"PK": item["PK"], "SK": item["SK"]})
    [record] = seen
    assert record["status"] == {"S": "INPROGRESS"} and "data" not in record
    return record


def test_a_request_still_in_progress_is_409(api: Invoke, ddb: Any) -> None:
    record = _in_progress_record(api, ddb, "k")
    ddb.put_item(TableName=TABLE, Item=record)
    reply = api("POST", MEMORY, _messages("a"), headers=_key("k"))
    assert reply.status == 409
    assert reply.body == {"message": "a request with this Idempotency-Key is still in progress; retry shortly"}
    assert _data(ddb) == []
    assert api("POST", MEMORY, _messages("b"), headers=_key("k")).status == 422  # the body is checked first


def test_a_killed_invocations_record_expires_with_its_remaining_time(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeContext, "get_remaining_time_in_millis", lambda self: 123_456)
    before = int(time.time() * 1000)
    record = _in_progress_record(api, ddb, "k")
    assert before + 123_456 <= int(record["in_progress_expiration"]["N"]) <= int(time.time() * 1000) + 123_456

    past = int(time.time() * 1000) - 1  # the invocation was killed and its time is up
    ddb.put_item(TableName=TABLE, Item={**record, "in_progress_expiration": {"N": str(past)}})
    retry = api("POST", MEMORY, _messages("a"), headers=_key("k"))
    assert retry.status == 201 and not _replayed(retry)
    assert _message_contents(ddb) == ["a"]


# --- every write route -------------------------------------------------------------------------------------


def _setup_session_and_user(api: Invoke) -> str:
    assert api("POST", "/api/v2/users", {"user_id": "u1"}).status == 201
    assert api("POST", "/api/v2/sessions", {"session_id": "s1", "user_id": "u1"}).status == 201
    added = api("POST", MEMORY, _messages("a"))
    uuid: str = added.body["messages"][0]["uuid"]
    return uuid


WRITES = [
    ("POST", "/api/v2/sessions", {"session_id": "new", "metadata": {"a": 1}}),
    ("POST", "/api/v2/users", {"user_id": "new", "email": "n@example.com"}),
    ("PATCH", "/api/v2/sessions/s1", {"metadata": {"b": 2}}),
    ("PATCH", "/api/v2/sessions/s1/messages/{uuid}", {"metadata": {"c": 3}}),
    ("PATCH", "/api/v2/users/u1", {"first_name": "Jane"}),
    ("DELETE", "/api/v2/sessions/s1/memory", None),
    ("DELETE", "/api/v2/users/u1", None),
    ("POST", MEMORY, _messages("z")),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_every_write_route_honours_the_key(
    api: Invoke, ddb: Any, method: str, path: str, body: dict[str, Any] | None
) -> None:
    path = path.format(uuid=_setup_session_and_user(api))
    first = api(method, path, body, headers=_key("route"))
    assert 200 <= first.status < 300, first.body
    stored = _data(ddb)
    second = api(method, path, body, headers=_key("route"))
    assert (second.status, second.body, _replayed(second)) == (first.status, first.body, True)
    assert _data(ddb) == stored
    if body is not None:
        assert api(method, path, {**body, "metadata": {"other": True}}, headers=_key("route")).status == 422


def test_creating_twice_with_a_key_is_one_create(api: Invoke, ddb: Any) -> None:
    body = {"session_id": "once"}
    assert api("POST", "/api/v2/sessions", body, headers=_key("c")).status == 201
    assert api("POST", "/api/v2/sessions", body, headers=_key("c")).status == 201  # replayed
    assert api("POST", "/api/v2/sessions", body).status == 409  # what a plain retry gets


# --- the header ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", "a b", "k" * 256, "é", "tab\there", "\x7f"])
def test_an_invalid_key_is_400_and_nothing_runs(api: Invoke, ddb: Any, value: str) -> None:
    reply = api("POST", MEMORY, _messages("a"), headers=_key(value))
    assert reply.status == 400
    assert reply.body == {"message": "the Idempotency-Key header must be 1 to 255 visible ASCII characters (no spaces)"}
    assert all_items(ddb) == []


@pytest.mark.parametrize("value", ["k", "k" * 255, '"8e03978e-40d5-43e8-bc93-6894a57f9324"', "!~#%&"])
def test_valid_keys(api: Invoke, value: str) -> None:
    assert api("POST", MEMORY, _messages("a"), headers=_key(value)).status == 201
    assert _replayed(api("POST", MEMORY, _messages("a"), headers=_key(value)))


def test_reads_ignore_the_header(api: Invoke, ddb: Any) -> None:
    api("POST", MEMORY, _messages("a"))
    for _ in range(2):
        reply = api("GET", MEMORY, headers=_key("not checked on reads: spaces"))
        assert reply.status == 200 and not _replayed(reply)
    assert _records(ddb) == []


# --- cost ----------------------------------------------------------------------------------------------------


def _operations(calls: CallLog) -> list[str]:
    return [name for name, _ in calls.calls]


def test_what_a_key_costs_in_dynamodb_calls(api: Invoke, calls: CallLog) -> None:
    """First request: one conditional PutItem (in progress) before and one UpdateItem (the answer) after the
    write. Replay: that PutItem alone (a failed condition returns the stored record: no GetItem), nothing else."""
    api("POST", "/api/v2/sessions/warm/memory", _messages("w"))
    calls.clear()
    api("POST", MEMORY, _messages("a"))
    plain = _operations(calls)
    calls.clear()
    api("POST", "/api/v2/sessions/s2/memory", _messages("a"), headers=_key("k"))
    assert _operations(calls) == ["PutItem", *plain, "UpdateItem"]
    [put] = calls.named("PutItem")
    assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert put["Key" if "Key" in put else "Item"]["SK"] == {"S": keys.IDEMPOTENCY_SK}
    calls.clear()
    api("POST", "/api/v2/sessions/s2/memory", _messages("a"), headers=_key("k"))
    assert _operations(calls) == ["PutItem"]
    calls.clear()
    api("POST", "/api/v2/sessions/s2/memory", {"messages": []}, headers=_key("bad"))
    assert _operations(calls) == ["PutItem", "DeleteItem"]


def test_the_calls_are_allowed_by_the_functions_policies(api: Invoke, calls: CallLog) -> None:
    resources = load_template()["Resources"]

    def allowed(function: str) -> set[str]:
        statements = resources[function]["Properties"]["Policies"][0]["Statement"]
        unconditional = [s for s in statements if "Action" in s]  # not the `!If`s of a configured model
        return {a for s in unconditional for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    def used() -> set[str]:
        """The actions of the calls on idempotency records (TransactWriteItems is authorised per item)."""
        on_records = [n for n, p in calls.calls if p.get("Key", p.get("Item", {})).get("SK") == {"S": "IDEMPOTENCY"}]
        return {f"dynamodb:{name}" for name in on_records}

    api("POST", MEMORY, _messages("a"), headers=_key("k"))
    api("POST", MEMORY, _messages("a"), headers=_key("k"))
    api("POST", MEMORY, {"messages": []}, headers=_key("bad"))
    assert used() == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert used() <= allowed("WriteMemoryFunction")
    calls.clear()
    api("POST", "/api/v2/users", {"user_id": "u"}, headers=_key("k"))
    api("POST", "/api/v2/users", {"user_id": "u"}, headers=_key("k"))
    api("DELETE", "/api/v2/users/nope", headers=_key("k"))
    assert used() == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert used() <= allowed("SessionsFunction")


# --- over HTTP ---------------------------------------------------------------------------------------------


def test_over_http_through_chat_memory_serve() -> None:
    """The header reaches the handlers through `chat-memory serve`, and the replay header reaches the client."""
    api_key = "cm_" + "i" * 43
    auth = {"Authorization": f"Bearer {api_key}"}
    with (
        _serve(_server_env(**{API_KEY_ENV: api_key})) as (url, _),
        httpx.Client(base_url=url, timeout=10, trust_env=False) as client,
    ):

        def post(body: dict[str, Any], key: str) -> httpx.Response:
            return client.post(MEMORY, json=body, headers={**auth, "Idempotency-Key": key})

        first, second = post(_messages("a"), "http-1"), post(_messages("a"), "http-1")
        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json() == first.json()
        assert REPLAYED_HEADER.lower() not in first.headers
        assert second.headers[REPLAYED_HEADER] == "true"
        assert post(_messages("b"), "http-1").status_code == 422
        assert post(_messages("a"), "bad key").status_code == 400
        window = client.get(MEMORY, headers=auth).json()
        assert [m["content"] for m in window["messages"]] == ["a"]
