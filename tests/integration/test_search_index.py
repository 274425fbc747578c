"""Search over the session's term index (the indexer's sealed blocks): the same results as reading the whole
session, at a fraction of the reads; messages newer than the index, changed after it or of a recreated session
are found as they are now; a deleted session is a 404 and its index is purged."""

import random
import threading
from typing import Any

import pytest

from chat_memory import wiring
from chat_memory.adapters.dynamodb.changes import Changes
from chat_memory.adapters.dynamodb.index_reads import plan_buckets
from chat_memory.adapters.dynamodb.items import stored_uuid
from chat_memory.adapters.dynamodb.table import now_micros
from chat_memory.domain.models import SearchQuery
from chat_memory.handlers import purger
from chat_memory.service.indexer import IndexSession
from chat_memory.service.ranking import query_terms
from chat_memory.service.search import SearchMemory
from tests.http_events import FakeContext
from tests.integration.conftest import TABLE, CallLog, Invoke, all_items, run_purger, tombstone_event

SEARCH = "/api/v2/sessions/s/search"
_WORDS = (  # noqa: SIM905 - a vocabulary, read as text
    "garden kitchen violin bicycle harbour lantern museum orchard pottery quarry saddle tunnel umbrella walnut "
    "yogurt zebra anchor bakery canyon dolphin engine falcon glacier hammock island jungle kettle ladder meadow "
    "noodle oyster pepper quilt rocket sunset tractor velvet window anvil beacon cactus desert ember fjord goblet "
    "hazel igloo jasmine kayak lemon marble nectar olive parrot radish spruce tulip vortex willow"
).split()
_MINUTE = 60 * 1_000_000


def _turns(n: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(6, 14)))
        role = "Jane" if i % 2 == 0 else "Bot"
        out.append({"role": role, "role_type": "user" if role == "Jane" else "assistant", "content": f"{words}."})
    return out


def _fill(api: Invoke, turns: list[dict[str, Any]], session: str = "s") -> list[str]:
    uuids: list[str] = []
    for start in range(0, len(turns), 99):
        reply = api("POST", f"/api/v2/sessions/{session}/memory", {"messages": turns[start : start + 99]})
        assert reply.status == 201, reply.body
        uuids += [m["uuid"] for m in reply.body["messages"]]
    return uuids


def _index(session: str = "s", changed: tuple[int, ...] = (), *, ago: int = 2 * _MINUTE) -> Any:
    """Run the indexer over the session as its stream consumer would, sealed `ago` microseconds in the past (so that
    search trusts the blocks: it reads blocks sealed in the last minute as messages)."""
    return IndexSession(wiring.dynamo_store(), clock=lambda: now_micros() - ago)("default", session, changed)


def _unindexed(text: str, limit: int = 10) -> list[str]:
    """What search answers when it reads the whole session (no index)."""
    hits = SearchMemory(wiring.dynamo_store())("default", "s", SearchQuery(text=text, limit=limit))
    return [h.message.content for h in hits if h.message is not None]


def _contents(reply: Any) -> list[str]:
    assert reply.status == 200, reply.body
    return [r["message"]["content"] for r in reply.body]


QUERIES = ["violin harbour", "kettle and lemon", "zebra glacier sunset", "pottery", "olive parrot radish"]


def test_an_indexed_session_answers_as_the_whole_session_does_at_a_fraction_of_the_reads(
    api: Invoke, calls: CallLog
) -> None:
    _fill(api, _turns(650, seed=1))
    report = _index()
    assert report.sealed == 3 and report.messages == 600
    for text in QUERIES:
        calls.clear()
        indexed = _contents(api("POST", SEARCH, {"text": text}))
        made = [name for name, _ in calls.calls]
        assert "Scan" not in made and len(made) <= 20, made
        assert indexed == _unindexed(text), text
    for get in calls.named("BatchGetItem"):
        assert not get["RequestItems"][TABLE]["ConsistentRead"], "candidates are read eventually consistently"


def test_a_message_newer_than_the_index_is_found_at_once(api: Invoke) -> None:
    _fill(api, _turns(450, seed=2))
    assert _index().sealed == 2
    _fill(api, [{"role": "Jane", "role_type": "user", "content": "the xylophone arrived today"}])
    assert _contents(api("POST", SEARCH, {"text": "xylophone"}))[:1] == ["the xylophone arrived today"]
    _fill(api, _turns(150, seed=3))  # now more than a window past the index: read as its unindexed tail
    assert _contents(api("POST", SEARCH, {"text": "xylophone"}))[:1] == ["the xylophone arrived today"]


def test_a_message_changed_after_it_was_indexed_is_found_by_its_new_words(
    api: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    turns = _turns(450, seed=4)
    turns[5]["content"] = "we keep bees on the roof"
    uuids = _fill(api, turns)
    assert _index().sealed == 2
    assert _contents(api("POST", SEARCH, {"text": "bees roof"}))[:1] == ["we keep bees on the roof"]
    resent = {"uuid": uuids[5], "role": "Bot", "role_type": "assistant", "content": "we keep goats on the roof"}
    assert api("POST", "/api/v2/sessions/s/memory", {"messages": [resent]}).status == 201
    # At once: the change marker makes search read the message again (the index still has its old words).
    assert _contents(api("POST", SEARCH, {"text": "goats"}))[:1] == ["we keep goats on the roof"]
    assert "we keep bees on the roof" not in _contents(api("POST", SEARCH, {"text": "bees roof"}))
    # Later, with the markers out of search's horizon: the indexer has rebuilt the block from the MODIFY record.
    [item] = [i for i in all_items(wiring.dynamo_store()._table.db) if stored_uuid(i) == uuids[5]]
    ts = int(item["SK"]["S"].removeprefix("MSG#"))
    assert _index(changed=(ts,)).rebuilt == 1
    monkeypatch.setattr("chat_memory.adapters.dynamodb.search.recent_changes", lambda *_: Changes(()))
    assert _contents(api("POST", SEARCH, {"text": "goats"}))[:1] == ["we keep goats on the roof"]
    assert "we keep goats on the roof" in _unindexed("goats")[:1]
    assert "we keep bees on the roof" not in _contents(api("POST", SEARCH, {"text": "bees roof"}))


def _index_items(client: Any) -> list[str]:
    return [i["SK"]["S"] for i in all_items(client) if i["SK"]["S"].startswith(("IDX#", "INDEX"))]


def test_a_deleted_session_is_a_404_at_once_and_its_index_is_purged(api: Invoke, ddb: Any) -> None:
    _fill(api, _turns(450, seed=5))
    assert _index().sealed == 2 and _index_items(ddb)
    assert api("DELETE", "/api/v2/sessions/s/memory").status == 200
    assert api("POST", SEARCH, {"text": "violin"}).status == 404
    assert run_purger(ddb) == {"batchItemFailures": []}
    left = [(i["PK"]["S"], i["SK"]["S"]) for i in all_items(ddb)]
    assert [pk for pk, _ in left] == ["T#default#DELETIONS"], "nothing of the session is left, its index included"
    assert left[0][1].endswith("#s"), "only its deletion receipt"


def test_a_recreated_session_never_sees_the_old_index_and_its_own_survives_the_old_purge(api: Invoke, ddb: Any) -> None:
    old = _turns(450, seed=6)
    old[3]["content"] = "the secret word is periwinkle"
    _fill(api, old)
    assert _index().sealed == 2
    assert api("DELETE", "/api/v2/sessions/s/memory").status == 200  # not purged yet
    tombstone = tombstone_event(ddb)
    assert api("POST", "/api/v2/sessions", {"session_id": "s"}).status == 201
    _fill(api, _turns(450, seed=7))
    assert _contents(api("POST", SEARCH, {"text": "periwinkle"})) == [], "before the new incarnation is indexed"
    assert _index().sealed == 2, "the indexer starts over for the new incarnation"
    assert _contents(api("POST", SEARCH, {"text": "periwinkle"})) == []
    before = set(_index_items(ddb))
    assert purger.lambda_handler(tombstone, FakeContext()) == {"batchItemFailures": []}
    after = set(_index_items(ddb))
    assert "INDEX" in after and len(after) < len(before), "the old blocks are gone, the new head and blocks stay"
    for text in QUERIES:
        assert _contents(api("POST", SEARCH, {"text": text})) == _unindexed(text), text


def test_the_index_is_trusted_only_a_minute_after_it_was_sealed_and_searches_stay_in_budget(
    api: Invoke, calls: CallLog
) -> None:
    _fill(api, _turns(650, seed=8))
    assert _index(ago=0).sealed == 3  # just sealed: search reads those messages, not the blocks
    calls.clear()
    found = _contents(api("POST", SEARCH, {"text": "violin harbour"}))
    assert not [q for q in calls.named("Query") if q["ExpressionAttributeValues"][":lo"]["S"].startswith("IDX#")]
    assert len(calls.calls) <= 20 and "Scan" not in {name for name, _ in calls.calls}
    assert found == _unindexed("violin harbour")


def test_only_the_window_head_and_markers_are_read_strongly_consistently(api: Invoke, calls: CallLog) -> None:
    _fill(api, _turns(1_200, seed=9))
    assert _index().sealed == 6
    calls.clear()
    found = _contents(api("POST", SEARCH, {"text": "quilt rocket"}))
    made = list(calls.calls)
    assert found == _unindexed("quilt rocket")
    strong = [(op, p) for op, p in made if p.get("ConsistentRead") or _batch_consistent(p)]
    assert sorted(op for op, _ in strong) == ["GetItem", "Query", "Query"], strong  # made at once: any order
    [head] = [p for op, p in strong if op == "GetItem"]
    by_start = {p["ExpressionAttributeValues"][":lo"]["S"].partition("#")[0]: p for op, p in strong if op == "Query"}
    window, markers = by_start["MSG"], by_start["CHANGED"]
    assert window["ExpressionAttributeValues"][":lo"]["S"] > "MSG#" and window["Limit"] == 102, "the last minute's"
    assert head["Key"]["SK"]["S"] == "INDEX" and markers["Limit"] == 200
    queries = [p for op, p in made if op == "Query"]
    index_reads = [q["ExpressionAttributeValues"][":lo"]["S"] for q in queries]
    buckets = [sk for sk in index_reads if sk.startswith("IDX#") and not sk.startswith("IDX#DOC#")]
    assert 1 <= len(buckets) <= 2, "one Query per distinct term bucket"
    assert len(made) <= 20


def _batch_consistent(params: dict[str, Any]) -> bool:
    return any(spec.get("ConsistentRead") for spec in params.get("RequestItems", {}).values())


def test_read_units_per_search_stay_near_a_window_read_as_the_session_grows(api: Invoke) -> None:
    """3,000 messages of about 700 bytes (the bench's size): the whole-session read costs hundreds of read units,
    the indexed search a few dozen (DynamoDB's sizing rules, as `chat-memory bench` computes them)."""
    from chat_memory.adapters.dynamodb.client import dynamodb_client
    from chat_memory_dev.bench.capacity import CapacityRecorder

    turns = _turns(3_000, seed=10)
    for turn in turns:
        turn["content"] = " ".join([turn["content"]] * 8)
    _fill(api, turns)
    assert _index().sealed == 15

    def units(search: Any) -> float:
        recorder = CapacityRecorder()
        recorder.attach(dynamodb_client())
        try:
            search()
        finally:
            recorder.detach()
        return sum(r.read_units for r in recorder.records)

    indexed = units(lambda: _contents(api("POST", SEARCH, {"text": "violin harbour"})))
    whole = units(lambda: _unindexed("violin harbour"))
    assert whole > 250 and indexed < whole / 4, (indexed, whole)


def test_an_index_item_over_dynamodbs_400_kb_is_never_written_and_search_reads_those_messages(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto stores items of any size; DynamoDB refuses one over 400 KB. A tiny limit stands for a huge vocabulary.
    from chat_memory.adapters.dynamodb import index

    _fill(api, _turns(450, seed=9))
    monkeypatch.setattr(index, "MAX_ITEM_BYTES", 300)
    report = _index()
    assert report.too_large and report.sealed == 0 and not _index_items(ddb), "nothing half-written"
    for text in QUERIES[:2]:
        assert _contents(api("POST", SEARCH, {"text": text})) == _unindexed(text)


def test_a_search_over_the_index_waits_for_three_round_trips(api: Invoke, ddb: Any) -> None:
    """The window, the rest of the newest 100, the change markers and the index head are read at once; then the
    term buckets with the blocks' timestamps; then the candidates. Each step's calls meet at a barrier before any
    of them is answered: made one after another, the first would wait there until the test failed."""
    from chat_memory.adapters.dynamodb.client import dynamodb_client

    _fill(api, _turns(1_200, seed=11))
    assert _index().sealed == 6
    buckets = len(plan_buckets(query_terms("quilt rocket", ["Bot", "Jane"])))
    first, second = threading.Barrier(4, timeout=60), threading.Barrier(buckets + 1, timeout=60)
    made: list[str] = []
    counting = threading.Lock()

    def meet(params: dict[str, Any], model: Any, **_: Any) -> None:
        with counting:
            made.append(model.name)
            step = len(made)
        if step <= 4:
            first.wait()
        elif step <= 4 + second.parties:
            second.wait()

    events = dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb", meet, unique_id="test-at-once")
    try:
        found = _contents(api("POST", SEARCH, {"text": "quilt rocket"}))
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="test-at-once")
    assert found == _unindexed("quilt rocket")
    assert sorted(made[:4]) == ["GetItem", "Query", "Query", "Query"]
    assert made[4:] == ["Query"] * second.parties + ["BatchGetItem"], made
