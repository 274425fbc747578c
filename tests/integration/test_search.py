"""POST /api/v2/sessions/{id}/search: found by its words as soon as add_memory answered, filtered on metadata and
time, within the DynamoDB call budget; bad input is a 400, another tenant's session a 404."""

import time
from typing import Any

import pytest

from chat_memory.adapters.dynamodb import search as search_adapter
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.dynamodb.search import STRONG_HORIZON_MICROS
from tests.integration.conftest import TABLE, CallLog, Invoke, all_items

SEARCH = "/api/v2/sessions/s/search"


def _add(api: Invoke, *turns: tuple[str, str, dict[str, Any] | None], session: str = "s") -> list[str]:
    messages = [
        {"role": role, "role_type": "user" if role == "Jane" else "assistant", "content": text, "metadata": meta}
        for role, text, meta in turns
    ]
    reply = api("POST", f"/api/v2/sessions/{session}/memory", {"messages": messages})
    assert reply.status == 201
    return [m["uuid"] for m in reply.body["messages"]]


def _contents(reply: Any) -> list[str]:
    return [r["message"]["content"] for r in reply.body]


def test_a_message_is_found_by_its_words_as_soon_as_it_is_stored(api: Invoke) -> None:
    _add(
        api,
        ("Jane", "I adopted a puppy named Biscuit last week", {"topic": "pets"}),
        ("Bot", "Congratulations! What breed is Biscuit?", None),
        ("Jane", "We painted the kitchen yellow", {"topic": "home"}),
    )
    reply = api("POST", SEARCH, {"text": "adopting puppies"})
    assert reply.status == 200
    assert _contents(reply)[0] == "I adopted a puppy named Biscuit last week", "inflections match"
    best = reply.body[0]
    assert best["score"] == best["dist"] == 1.0 and all(0 < r["score"] <= 1 for r in reply.body)
    assert best["metadata"] == {"topic": "pets"} == best["message"]["metadata"] and best["summary"] is None
    assert set(best["message"]) == {"uuid", "created_at", "role", "role_type", "content", "token_count", "metadata"}


def test_filters_on_metadata_and_time_and_a_filter_alone_lists_newest_first(api: Invoke) -> None:
    _add(api, ("Jane", "paint the fence", {"room": {"name": "garden"}, "n": 1}), ("Jane", "paint the hall", {"n": 2}))
    _add(api, ("Jane", "paint the attic", {"room": {"name": "attic"}, "n": 3}))
    where = {"where": {"jsonpath": '$[*] ? (@.room.name == "garden" || @.n >= 3)'}}
    assert sorted(_contents(api("POST", SEARCH, {"text": "paint", "metadata": where}))) == [
        "paint the attic",
        "paint the fence",
    ]
    assert _contents(api("POST", SEARCH, {"metadata": where})) == ["paint the attic", "paint the fence"]
    created = [m["created_at"] for m in api("GET", "/api/v2/sessions/s/messages").body["messages"]]
    dates = {"start_date": created[1], "end_date": created[2]}
    assert _contents(api("POST", SEARCH, {"metadata": dates})) == ["paint the attic", "paint the hall"]
    assert _contents(api("POST", SEARCH, {"metadata": dates}, query="limit=1")) == ["paint the attic"]


def test_a_message_resent_with_its_uuid_is_found_by_its_new_words(api: Invoke) -> None:
    [uuid] = _add(api, ("Jane", "my favourite colour is blue", None))
    message = {"uuid": uuid, "role": "Jane", "role_type": "user", "content": "my favourite colour is green"}
    assert api("POST", "/api/v2/sessions/s/memory", {"messages": [message]}).status == 201
    assert _contents(api("POST", SEARCH, {"text": "green colour"})) == ["my favourite colour is green"]
    assert api("POST", SEARCH, {"text": "blue"}).body == []


def test_mmr_keeps_the_best_and_prefers_what_it_has_not_said_yet(api: Invoke) -> None:
    _add(
        api,
        ("Jane", "the garden party is on Saturday at noon", None),
        ("Jane", "the garden party is on Saturday at noon!", None),
        ("Jane", "bring a salad to the garden party", None),
    )
    similar = _contents(api("POST", SEARCH, {"text": "garden party saturday"}, query="limit=2"))
    diverse = _contents(
        api("POST", SEARCH, {"text": "garden party saturday", "search_type": "mmr", "mmr_lambda": 0.3}, "limit=2")
    )
    assert similar[0] == diverse[0] and len(diverse) == 2
    assert "bring a salad to the garden party" in diverse and "bring a salad to the garden party" not in similar


def test_the_summary_scope_finds_nothing_before_a_summary_is_written(api: Invoke) -> None:
    """(With summaries: test_summariser.py::test_summaries_are_searchable_and_summary_retriever_picks_...)"""
    _add(api, ("Jane", "hello", None))
    reply = api("POST", SEARCH, {"text": "hello", "search_scope": "summary"})
    assert reply.status == 200 and reply.body == [], "the messages' words are not searched in this scope"


def test_a_search_reads_at_most_twenty_times_and_never_scans(api: Invoke, calls: CallLog) -> None:
    for batch in range(3):
        _add(
            api,
            *[("Jane", f"turn {batch}-{i} about llamas" if i == 7 else f"turn {batch}-{i}", None) for i in range(60)],
        )
    calls.clear()
    before = time.time_ns() // 1_000
    reply = api("POST", SEARCH, {"text": "llamas"})
    after = time.time_ns() // 1_000
    assert sorted(_contents(reply)[:3]) == [f"turn {b}-7 about llamas" for b in range(3)], "then their neighbours"
    made = [name for name, _ in calls.calls]
    assert "Scan" not in made and len(made) <= 20
    consistent = [q["ExpressionAttributeValues"][":lo"]["S"] for q in calls.named("Query") if q.get("ConsistentRead")]
    assert len(consistent) == 2, "only the newest messages (and the change markers) are read consistently"
    assert consistent[1].startswith("CHANGED#"), consistent
    since = int(consistent[0].removeprefix("MSG#"))
    assert before - STRONG_HORIZON_MICROS <= since <= after - STRONG_HORIZON_MICROS, "those of the last minute"


def _stale_replica(ddb: Any) -> None:
    """From now on, every eventually consistent Query answers as a replica that has seen no write since this
    moment: the items as they are now, none of those written later."""
    snapshot = {(i["PK"]["S"], i["SK"]["S"]): i for i in all_items(ddb)}

    def note(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test-stale-eventual"] = not params.get("ConsistentRead", False)  # per call: some run at once

    def answer(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.pop("test-stale-eventual"):
            seen = (snapshot.get((i["PK"]["S"], i["SK"]["S"])) for i in parsed.get("Items", []))
            parsed["Items"] = [i for i in seen if i is not None]

    events = dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb.Query", note, unique_id="test-stale-note")
    events.register("after-call.dynamodb.Query", answer, unique_id="test-stale-answer")


@pytest.mark.parametrize("in_window", [False, True], ids=["past the newest 100", "among the newest 100"])
def test_an_old_message_changed_a_moment_ago_is_found_by_its_new_words_and_metadata(
    api: Invoke, calls: CallLog, ddb: Any, monkeypatch: pytest.MonkeyPatch, in_window: bool
) -> None:
    """Messages older than a minute are read eventually consistently (past the newest 100, or among them): the
    change markers make search re-read what changed (a resent uuid, a metadata PATCH) strongly consistently."""
    if in_window:  # every message counts as older than a minute; these two are among the newest 100
        monkeypatch.setattr(search_adapter, "STRONG_HORIZON_MICROS", 0)
        _add(api, *[("Bot", f"filler {i}", None) for i in range(60)])
    first = _add(api, ("Jane", "we keep bees on the roof", None), ("Jane", "the hives are blue", {"n": 1}))
    for batch in range(1 if in_window else 2):
        _add(api, *[("Bot", f"filler {batch}-{i}", None) for i in range(60)])
    _stale_replica(ddb)
    assert _contents(api("POST", SEARCH, {"text": "bees"}))[0] == "we keep bees on the roof"  # the snapshot
    resent = {"uuid": first[0], "role": "Jane", "role_type": "user", "content": "we keep goats on the roof"}
    assert api("POST", "/api/v2/sessions/s/memory", {"messages": [resent]}).status == 201
    patch = {"metadata": {"n": 2}}
    assert api("PATCH", f"/api/v2/sessions/s/messages/{first[1]}", patch).status == 200
    calls.clear()
    assert _contents(api("POST", SEARCH, {"text": "goats"}))[:1] == ["we keep goats on the roof"]
    assert "we keep bees on the roof" not in _contents(api("POST", SEARCH, {"text": "bees roof"}))
    where = {"where": {"jsonpath": "$[*] ? (@.n == 2)"}}
    assert _contents(api("POST", SEARCH, {"metadata": where})) == ["the hives are blue"]
    assert len(calls.named("BatchGetItem")) == 3 and all(
        g["RequestItems"][TABLE]["ConsistentRead"] for g in calls.named("BatchGetItem")
    )


def test_deleted_unknown_and_other_tenants_sessions_are_not_found(api: Invoke) -> None:
    _add(api, ("Jane", "secret plans", None))
    assert api("POST", SEARCH, {"text": "secret"}, tenant="other").status == 404
    assert api("POST", "/api/v2/sessions/nobody/search", {"text": "secret"}).status == 404
    assert api("DELETE", "/api/v2/sessions/s/memory").status == 200
    assert api("POST", SEARCH, {"text": "secret"}).status == 404


@pytest.mark.parametrize(
    ("body", "query", "where"),
    [
        ({}, "", "search needs"),
        ({"text": "  "}, "", "search needs"),
        ({"text": "x", "search_scope": "everything"}, "", "search_scope"),
        ({"text": "x", "search_type": "fuzzy"}, "", "search_type"),
        ({"text": "x", "mmr_lambda": 1.5}, "", "mmr_lambda"),
        ({"text": "x"}, "limit=0", "limit"),
        ({"text": "x"}, "limit=101", "limit"),
        ({"metadata": {"where": {"jsonpath": "$.foo"}}}, "", "jsonpath"),
        ({"metadata": {"where": {"sql": "1=1"}}}, "", "where"),
        ({"metadata": {"start_date": "yesterday"}}, "", "start_date"),
        ({"metadata": {"end_date": 0}}, "", "end_date"),  # no seconds since 1970: RFC 3339 only
        ({"metadata": {"colour": "red"}}, "", "metadata"),
    ],
)
def test_bad_searches_are_a_400_that_says_what_to_fix(api: Invoke, body: Any, query: str, where: str) -> None:
    _add(api, ("Jane", "hello", None))
    reply = api("POST", SEARCH, body, query=query)
    assert reply.status == 400 and where in reply.body["message"], reply.body


def test_a_filter_alone_reads_newest_first_and_stops_once_it_has_the_limit(api: Invoke, calls: CallLog) -> None:
    _add(api, ("Jane", "the very first message", {"first": True}))
    for batch in range(3):
        _add(api, *[("Bot", f"filler {batch}-{i}", {"n": i}) for i in range(60)])
    calls.clear()
    newest = _contents(api("POST", SEARCH, {"metadata": {"where": {"jsonpath": "$[*] ? (@.n >= 0)"}}}, "limit=3"))
    assert newest == ["filler 2-59", "filler 2-58", "filler 2-57"]
    message_reads = [q for q in calls.named("Query") if q["ExpressionAttributeValues"][":lo"]["S"].startswith("MSG#")]
    assert len(message_reads) == 2, "the window and the rest of the newest 100 at once hold the three: no older page"
    calls.clear()
    oldest = _contents(api("POST", SEARCH, {"metadata": {"where": {"jsonpath": "$[*] ? (@.first == true)"}}}))
    assert oldest == ["the very first message"], "past the newest 100, on to the older pages"
    assert len([q for q in calls.named("Query") if q["ExpressionAttributeValues"][":lo"]["S"].startswith("MSG#")]) == 3


def test_a_dated_search_reads_only_the_older_messages_within_its_dates(api: Invoke, calls: CallLog) -> None:
    _add(api, ("Jane", "the oldest plan for llamas", None))
    for batch in range(2):
        _add(api, *[("Bot", f"filler {batch}-{i}", None) for i in range(60)])
    first = api("GET", "/api/v2/sessions/s/messages", query="limit=1").body["messages"][0]["created_at"]
    calls.clear()
    dated = {"text": "llamas", "metadata": {"end_date": first}}
    assert _contents(api("POST", SEARCH, dated)) == ["the oldest plan for llamas"]
    older = [q for q in calls.named("Query") if not q.get("ConsistentRead") and "Limit" not in q]
    assert len(older) == 1, "past the newest 100 (all of them written in the last minute: strongly consistent)"
    span = older[0]["ExpressionAttributeValues"]
    assert span[":lo"] == span[":hi"], "from the session's start to end_date: the first message, not the session"


def test_a_replica_that_has_seen_none_of_the_messages_gives_no_error(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every message older than a minute, none of them visible yet to an eventually consistent read."""
    monkeypatch.setattr(search_adapter, "STRONG_HORIZON_MICROS", 0)
    assert api("POST", "/api/v2/sessions", {"session_id": "s"}).status == 201
    _stale_replica(ddb)
    for batch in range(2):
        _add(api, *[("Jane", f"llama {batch}-{i}", {"n": i}) for i in range(75)])
    for body in ({"text": "llama"}, {"metadata": {"where": {"jsonpath": "$[*] ? (@.n >= 0)"}}}, {"text": "llama 3"}):
        reply = api("POST", SEARCH, body)
        assert reply.status == 200 and reply.body == [], (body, reply.body)
