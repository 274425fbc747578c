"""The storage guarantees of the core issue, each checked against moto through the real handlers."""

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
from chat_memory.domain.models import CountedMessage, NewMessage, RoleType
from tests.http_events import FakeContext
from tests.integration.conftest import (
    TABLE,
    CallLog,
    Invoke,
    all_items,
    data_items,
    receipts,
    run_purger,
    tombstone_event,
)


def _messages(n: int, prefix: str = "m", size: int = 0) -> list[dict[str, Any]]:
    return [
        {"role": "Jane" if i % 2 == 0 else "Bot", "role_type": "user" if i % 2 == 0 else "assistant",
         "content": f"{prefix}{i}" + "x" * size}
        for i in range(n)
    ]  # fmt: skip


def _add(api: Invoke, session: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reply = api("POST", f"/api/v2/sessions/{session}/memory", {"messages": messages})
    assert reply.status == 201, reply.body
    added: list[dict[str, Any]] = reply.body["messages"]
    return added


def _window(api: Invoke, session: str, lastn: int | None = None, memory_type: str = "") -> list[dict[str, Any]]:
    query = f"lastn={lastn or ''}&memoryType={memory_type}"
    reply = api("GET", f"/api/v2/sessions/{session}/memory", query=query)
    assert reply.status == 200, reply.body
    messages: list[dict[str, Any]] = reply.body["messages"]
    return messages


def test_window_is_one_reverse_limited_consistent_query_whatever_the_history(api: Invoke, calls: CallLog) -> None:
    for session, size in (("short", 20), ("long", 600)):
        for start in range(0, size, 99):
            _add(api, session, _messages(min(99, size - start), prefix=f"{session}-{start}-"))

    scanned: dict[str, int] = {}
    for session in ("short", "long"):
        calls.clear()
        window = _window(api, session, lastn=6)
        assert len(window) == 6
        queries = calls.named("Query")
        assert len(queries) == 1, "the window must be a single Query"
        (query,) = queries
        assert query["ScanIndexForward"] is False
        assert query["ConsistentRead"] is True
        assert query["Limit"] == 8  # the current summary, the session item and 6 messages
        assert calls.named("Scan") == []
        scanned[session] = query["Limit"]
    assert scanned["short"] == scanned["long"]


def test_window_returns_newest_messages_oldest_first(api: Invoke) -> None:
    _add(api, "s", _messages(30))
    window = _window(api, "s", lastn=5)
    assert [m["content"] for m in window] == [f"m{i}" for i in range(25, 30)]
    default = _window(api, "s")
    assert len(default) == 12  # W


def test_window_follows_last_evaluated_key_when_1mb_cuts_a_page(api: Invoke, calls: CallLog) -> None:
    # 12 messages of ~99 KB: 1.2 MB, more than one Query page may hold.
    _add(api, "big", _messages(12, size=99_000))
    calls.clear()
    window = _window(api, "big", lastn=12)
    assert [m["content"][:3] for m in window] == [f"m{i}x"[:3] for i in range(12)]
    assert len(calls.named("Query")) >= 2, "moto cuts Query pages at 1 MB, so the reader must have paged"


def test_reads_see_the_callers_previous_write(api: Invoke) -> None:
    for i in range(5):
        _add(api, "ryw", [{"role": "Jane", "role_type": "user", "content": f"turn {i}"}])
        assert _window(api, "ryw", lastn=1)[0]["content"] == f"turn {i}"


def test_created_at_strictly_increases_and_request_order_is_kept(api: Invoke) -> None:
    _add(api, "order", _messages(50))
    _add(api, "order", _messages(50, prefix="second-"))
    window = _window(api, "order", lastn=100)
    stamps = [m["created_at"] for m in window]
    assert stamps == sorted(stamps) and len(set(stamps)) == 100
    assert [m["content"] for m in window] == [f"m{i}" for i in range(50)] + [f"second-{i}" for i in range(50)]


def test_concurrent_writer_with_a_slow_clock_still_lands_after_the_newer_write(ddb: Any) -> None:
    """A reads the session, B commits meanwhile with a clock ahead of A's: A must retry and land after B."""
    hour = 3_600_000_000
    base = 1_900_000_000_000_000
    first = DynamoMemoryStore(TABLE, clock=lambda: base)
    slow = DynamoMemoryStore(TABLE, clock=lambda: base + hour)  # A: ahead of the history, behind B
    fast = DynamoMemoryStore(TABLE, clock=lambda: base + 2 * hour)  # B

    def message(text: str) -> CountedMessage:
        return CountedMessage(NewMessage(role="r", role_type=RoleType.USER, content=text), token_count=1)

    first.append_messages("default", "race", [message("first")], None, None)
    interleaved = {"done": False}

    def commit_b_first(**_: Any) -> None:
        if not interleaved["done"]:
            interleaved["done"] = True
            fast.append_messages("default", "race", [message("b")], None, None)

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", commit_b_first, unique_id="interleave")
    try:
        added = slow.append_messages("default", "race", [message("a1"), message("a2")], None, None)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="interleave")

    window = fast.read_window("default", "race", 10)
    assert window is not None
    assert [m.content for m in window.messages] == ["first", "b", "a1", "a2"]
    stamps = [m.ts for m in window.messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert [a.ts for a in added] == stamps[2:]


def test_one_requests_messages_land_all_or_none(api: Invoke, ddb: Any) -> None:
    _add(api, "atomic", _messages(3))
    before = all_items(ddb)

    def fail(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "injected"}}, "TransactWriteItems")

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", fail, unique_id="fail")
    try:
        with pytest.raises(ClientError):
            api("POST", "/api/v2/sessions/atomic/memory", {"messages": _messages(20, prefix="lost-")})
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="fail")
    assert all_items(ddb) == before
    assert [m["content"] for m in _window(api, "atomic")] == ["m0", "m1", "m2"]


def test_throttling_after_retries_is_a_503_with_retry_after_and_stores_nothing(api: Invoke, ddb: Any) -> None:
    def throttle(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}}, "GetItem"
        )

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.GetItem", throttle, unique_id="throttle")
    try:
        reply = api("POST", "/api/v2/sessions/busy/memory", {"messages": _messages(2)})
    finally:
        events.unregister("before-call.dynamodb.GetItem", unique_id="throttle")
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "1"
    assert "retry" in reply.body["message"]
    assert all_items(ddb) == []


def test_a_callers_uuid_already_in_the_session_updates_that_message(api: Invoke) -> None:
    known = str(uuid.uuid4())
    _add(api, "upsert", [{"role": "a", "role_type": "user", "content": "before"}])
    first = _add(api, "upsert", [{"uuid": known, "role": "Jane", "role_type": "user", "content": "v1"}])
    _add(api, "upsert", [{"role": "a", "role_type": "user", "content": "after"}])
    second = _add(
        api,
        "upsert",
        [
            {
                "uuid": known.upper(),
                "role": "Jane",
                "role_type": "assistant",
                "content": "version two",
                "metadata": {"k": 1},
            }
        ],
    )
    assert second[0]["uuid"] == known and second[0]["created_at"] == first[0]["created_at"]
    window = _window(api, "upsert")
    assert [m["content"] for m in window] == ["before", "version two", "after"]
    updated = window[1]
    assert updated["uuid"] == known and updated["role_type"] == "assistant" and updated["metadata"] == {"k": 1}
    assert updated["token_count"] == 4  # "assistant: version two"


def test_retrying_a_request_with_uuids_never_duplicates(api: Invoke) -> None:
    request = [{"uuid": str(uuid.uuid4()), "role": "r", "role_type": "user", "content": f"c{i}"} for i in range(10)]
    _add(api, "retry", request)
    _add(api, "retry", request)
    window = _window(api, "retry", lastn=50)
    assert [m["content"] for m in window] == [f"c{i}" for i in range(10)]


def test_two_messages_with_one_uuid_in_a_request_are_refused(api: Invoke, ddb: Any) -> None:
    same = str(uuid.uuid4())
    reply = api(
        "POST",
        "/api/v2/sessions/dup/memory",
        {"messages": [{"uuid": same, "content": "a"}, {"uuid": same, "content": "b"}]},
    )
    assert reply.status == 400 and "same uuid" in reply.body["message"]
    assert all_items(ddb) == []


def test_token_count_follows_zeps_formula_and_ignores_the_client(api: Invoke) -> None:
    added = _add(
        api,
        "tokens",
        [
            {"role": "HistoryBot", "role_type": "assistant", "token_count": 999, "content": (
                "Parable of the Sower is a science fiction novel by Octavia Butler, published in 1993. It follows the"
                " story of Lauren Olamina, a young woman living in a dystopian future where society has collapsed due"
                " to environmental disasters, poverty, and violence.")},
            {"role": "Jane", "role_type": "user",
             "content": "Write a short synopsis of Butler's book, Parable of the Sower. What is it about?"},
        ],
    )  # fmt: skip
    assert [a["token_count"] for a in added] == [56, 23]
    assert [m["token_count"] for m in _window(api, "tokens")] == [56, 23]


def test_the_tenant_is_part_of_every_key(api: Invoke, ddb: Any) -> None:
    _add(api, "tenant", _messages(3))
    assert api("POST", "/api/v2/sessions", {"session_id": "other"}).status == 201
    items = all_items(ddb)
    assert len(items) == 5
    for item in items:
        assert item["PK"]["S"].startswith("T#default#S#")
        if "GSI1PK" in item:
            assert item["GSI1PK"]["S"] == "T#default#SESSIONS"


def test_delete_memory_is_one_write_and_the_purger_removes_everything(api: Invoke, ddb: Any, calls: CallLog) -> None:
    _add(api, "gone", _messages(40))
    calls.clear()
    assert api("DELETE", "/api/v2/sessions/gone/memory").status == 200
    assert [op for op, _ in calls.calls] == ["GetItem", "PutItem"], "a tombstone, whatever the session's size"
    assert api("GET", "/api/v2/sessions/gone/memory").status == 404
    assert api("GET", "/api/v2/sessions/gone").status == 404
    assert api("GET", "/api/v2/sessions/gone/messages").status == 404
    assert api("DELETE", "/api/v2/sessions/gone/memory").status == 404
    assert run_purger(ddb) == {"batchItemFailures": []}
    assert data_items(ddb) == []
    assert receipts(ddb) == [{"session_id": "gone", "reason": "delete"}]  # what is left: no content
    _add(api, "gone", _messages(2, prefix="new-"))
    assert [m["content"] for m in _window(api, "gone")] == ["new-0", "new-1"]


def test_a_session_recreated_before_the_purge_never_shows_the_old_messages(api: Invoke, ddb: Any) -> None:
    _add(api, "crash", _messages(5, prefix="old-"))
    assert api("DELETE", "/api/v2/sessions/crash/memory").status == 200
    tombstones = tombstone_event(ddb)
    assert len(all_items(ddb)) == 6  # the tombstone and 5 messages waiting for the purger

    created = api("POST", "/api/v2/sessions", {"session_id": "crash", "metadata": {"v": 2}})
    assert created.status == 201, created.body
    assert api("POST", "/api/v2/sessions", {"session_id": "crash"}).status == 409
    _add(api, "crash", _messages(2, prefix="new-"))
    assert [m["content"] for m in _window(api, "crash", lastn=10)] == ["new-0", "new-1"]
    assert api("GET", "/api/v2/sessions/crash").body["metadata"] == {"v": 2}

    from chat_memory.handlers import purger

    assert purger.lambda_handler(tombstones, FakeContext()) == {"batchItemFailures": []}  # the purge, late
    assert [m["content"] for m in _window(api, "crash", lastn=10)] == ["new-0", "new-1"]
    assert len(data_items(ddb)) == 3, "the old messages are gone, the recreated session and its 2 messages stay"
    assert receipts(ddb) == [{"session_id": "crash", "reason": "delete"}]


def test_an_interrupted_purge_is_finished_by_the_retry(api: Invoke, ddb: Any) -> None:
    _add(api, "retry-purge", _messages(30))
    assert api("DELETE", "/api/v2/sessions/retry-purge/memory").status == 200
    tombstones = tombstone_event(ddb)
    calls = {"n": 0}

    def die_after_one_batch(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "killed"}}, "BatchWriteItem")

    from chat_memory.handlers import purger

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.BatchWriteItem", die_after_one_batch, unique_id="die")
    try:
        first = purger.lambda_handler(tombstones, FakeContext())
    finally:
        events.unregister("before-call.dynamodb.BatchWriteItem", unique_id="die")
    assert first["batchItemFailures"], "the record is reported for a retry"
    assert 0 < len(all_items(ddb)) < 31
    assert api("GET", "/api/v2/sessions/retry-purge/memory").status == 404
    assert purger.lambda_handler(tombstones, FakeContext()) == {"batchItemFailures": []}
    assert data_items(ddb) == []
    assert receipts(ddb) == [{"session_id": "retry-purge", "reason": "delete"}], "one receipt, written once"


def test_add_memory_is_one_read_and_one_transaction(api: Invoke, calls: CallLog) -> None:
    _add(api, "cost", _messages(2))
    calls.clear()
    _add(api, "cost", _messages(5))
    assert [op for op, _ in calls.calls] == ["GetItem", "TransactWriteItems"]
    (transaction,) = calls.named("TransactWriteItems")
    assert len(transaction["TransactItems"]) == 6  # the session item and 5 messages
    calls.clear()
    _add(api, "cost", [{"uuid": str(uuid.uuid4()), "content": "with a uuid"}])
    assert [op for op, _ in calls.calls] == ["GetItem", "Query", "TransactWriteItems"]
