"""Search over the session's term index (the indexer's sealed blocks): the same results as reading the whole
session, at a fraction of the reads; messages newer than the index, changed after it or of a recreated session
are found as they are now; a deleted session is a 404 and its index is purged."""

import random
from typing import Any

from chat_memory import wiring
from chat_memory.adapters.dynamodb.table import now_micros
from chat_memory.domain.models import SearchQuery
from chat_memory.service.indexer import IndexSession
from chat_memory.service.search import SearchMemory
from tests.integration.conftest import TABLE, CallLog, Invoke

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
