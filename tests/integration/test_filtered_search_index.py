"""Text with a filter over the term index: the candidates are read in score order until enough pass the filter,
so the answer is the whole session's ranking with the filter applied, at a fraction of the reads, within the
search's call budget; a filter the index's dates can answer reads nothing outside them."""

from datetime import UTC, datetime
from typing import Any

import pytest

from chat_memory import wiring
from chat_memory.domain.models import SearchQuery
from chat_memory.service.search import SearchMemory
from tests.integration.conftest import CallLog, Invoke, all_items
from tests.integration.test_search_index import QUERIES, SEARCH, _contents, _fill, _index, _turns

_TOPICS = ("a", "b", "c", "d", "e")


def _with_metadata(n: int, seed: int, *, repeat: int = 1) -> list[dict[str, Any]]:
    """Turns with metadata; `repeat`: each content that many times (40: about 3.5 KB a message, so that reading
    them by key, a 4 KB unit each, is never dearer than reading them all)."""
    turns = _turns(n, seed)
    for i, turn in enumerate(turns):
        turn["metadata"] = {"topic": _TOPICS[(i // 3) % 5], "n": i, "rare": i % 50 == 7}
        turn["content"] = " ".join([turn["content"]] * repeat)
    return turns


def _where(path: str) -> dict[str, Any]:
    return {"where": {"jsonpath": path}}


def _whole(text: str, where: str | None = None, span: tuple[int, int] | None = None) -> list[str]:
    """The whole session ranked, then filtered (no index: every message read; the dates applied here, since
    without an index a dated search reads only its span)."""
    query = SearchQuery(text=text, where=where, limit=1_000)
    hits = SearchMemory(wiring.dynamo_store())("default", "s", query)
    low, high = span or (0, 2**63)
    return [h.message.content for h in hits if h.message is not None and low <= h.message.ts <= high]


def _message_timestamps(ddb: Any) -> list[int]:
    return sorted(int(i["SK"]["S"].removeprefix("MSG#")) for i in all_items(ddb) if i["SK"]["S"].startswith("MSG#"))


def _rfc3339(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, UTC).isoformat()


def _older_pages(calls: CallLog) -> list[dict[str, Any]]:
    """Queries of messages other than the newest 100's two (the window's and the rest's)."""
    queries = [q for q in calls.named("Query") if q["ExpressionAttributeValues"][":lo"]["S"].startswith("MSG#")]
    return queries[2:]


def _read_by_key(calls: CallLog) -> int:
    return sum(len(spec["Keys"]) for p in calls.named("BatchGetItem") for spec in p["RequestItems"].values())


@pytest.mark.parametrize(
    "where",
    [
        '$[*] ? (@.topic == "a")',
        '$[*] ? (@.topic == "b" || @.topic == "c")',
        "$[*] ? (@.n >= 300 && @.n < 500)",
    ],
)
def test_a_filtered_search_over_the_index_answers_as_the_whole_session_does(
    api: Invoke, calls: CallLog, where: str
) -> None:
    _fill(api, _with_metadata(650, seed=21, repeat=40))
    assert _index().sealed == 3
    for text in QUERIES:
        calls.clear()
        found = _contents(api("POST", SEARCH, {"text": text, "metadata": _where(where)}))
        made = [name for name, _ in calls.calls]
        assert "Scan" not in made and len(made) <= 20, made
        assert not _older_pages(calls), "the older messages come from the index, not from pages of the session"
        assert _read_by_key(calls) < 450, "a fraction of the 550 indexed messages"
        assert found == _whole(text, where)[:10], (text, where)


def test_a_dated_search_reads_only_candidates_of_its_span(api: Invoke, calls: CallLog, ddb: Any) -> None:
    _fill(api, _with_metadata(650, seed=22))
    assert _index().sealed == 3
    stamps = _message_timestamps(ddb)
    span = (stamps[100], stamps[180])
    dates = {"start_date": _rfc3339(span[0]), "end_date": _rfc3339(span[1])}
    for text in QUERIES:
        calls.clear()
        found = _contents(api("POST", SEARCH, {"text": text, "metadata": dates}))
        assert not _older_pages(calls)
        keys = [k for p in calls.named("BatchGetItem") for s in p["RequestItems"].values() for k in s["Keys"]]
        read = [int(k["SK"]["S"].removeprefix("MSG#")) for k in keys if k["SK"]["S"].startswith("MSG#")]
        # The candidates are of the span; a candidate's neighbour may be just outside it (context of its score).
        assert read and all(stamps[99] <= ts <= stamps[181] for ts in read), "nothing far outside the span is read"
        assert found == _whole(text, span=span)[:10], text


def test_a_selective_filter_reads_further_candidates_and_answers_only_what_passes(api: Invoke, calls: CallLog) -> None:
    """2% of the messages pass: the first candidates hold too few, so further ones are read, best first, until the
    candidates or the call budget run out; what is answered passes the filter, in the whole session's order.
    (Messages of about 3.5 KB: reading the 1,150 older ones whole would cost more than 500 of them by key.)"""
    _fill(api, _with_metadata(1_250, seed=23, repeat=40))
    assert _index().sealed == 6
    where = "$[*] ? (@.rare == true)"
    for text in QUERIES:
        calls.clear()
        reply = api("POST", SEARCH, {"text": text, "metadata": _where(where)})
        assert reply.status == 200, reply.body
        assert len(calls.calls) <= 20 and len(calls.named("BatchGetItem")) >= 2, "further rounds of candidates"
        assert all(r["message"]["metadata"]["rare"] is True for r in reply.body)
        found = [r["message"]["content"] for r in reply.body]
        whole = _whole(text, where)
        assert found and found == [c for c in whole if c in found], "in the whole session's order"
        assert found[0] == whole[0], "the best match is among the candidates read"


def test_further_rounds_stop_at_the_search_call_budget(
    api: Invoke, calls: CallLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat_memory.adapters.dynamodb import index_reads

    _fill(api, _with_metadata(1_250, seed=24, repeat=40))
    assert _index().sealed == 6
    body = {"text": "violin harbour", "metadata": _where("$[*] ? (@.rare == true)")}
    calls.clear()
    assert api("POST", SEARCH, body).status == 200
    unbounded = len(calls.calls)
    budget = unbounded - 2
    monkeypatch.setattr(index_reads, "MAX_SEARCH_CALLS", budget)
    calls.clear()
    reply = api("POST", SEARCH, body)
    assert reply.status == 200 and all(r["message"]["metadata"]["rare"] is True for r in reply.body)
    assert len(calls.calls) <= budget < unbounded


def test_a_selective_filter_over_small_messages_reads_them_all_at_once_when_that_costs_less(
    api: Invoke, calls: CallLog
) -> None:
    """About 100 bytes a message: the 550 indexed ones cost about 15 read units in one Query, a few hundred
    candidates by key (4 KB each) far more; so they are read whole, and the answer is the whole session's."""
    _fill(api, _with_metadata(650, seed=25))
    assert _index().sealed == 3
    where = "$[*] ? (@.rare == true)"
    for text in QUERIES:
        calls.clear()
        found = _contents(api("POST", SEARCH, {"text": text, "metadata": _where(where)}))
        assert len(calls.calls) <= 20
        assert len(calls.named("BatchGetItem")) == 1, "the first candidates only: no further rounds"
        [older] = _older_pages(calls)
        assert not older["ConsistentRead"], "the older messages, eventually consistent, in one Query"
        assert found == _whole(text, where)[:10], text
