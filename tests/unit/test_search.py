"""The search use case over an in-memory store (no AWS): scopes, filters, relevance and MMR."""

import pytest

from chat_memory.domain.errors import InvalidInputError, NotFoundError
from chat_memory.domain.models import CountedMessage, NewMessage, RoleType, SearchQuery, SearchScope, Summary
from chat_memory.service.search import SearchMemory
from tests.unit.fakes import InMemoryStore


def _store(*contents: str) -> InMemoryStore:
    store = InMemoryStore()
    store.create_session("t", "s", None, {})
    messages = [CountedMessage(NewMessage("Jane", RoleType.USER, c, {"i": i}), 1) for i, c in enumerate(contents)]
    store.append_messages("t", "s", messages, None, None)
    return store


def test_relevance_is_relative_to_the_best_and_sorted() -> None:
    search = SearchMemory(_store("cats purr", "dogs bark loudly", "my dog barked"))
    hits = search("t", "s", SearchQuery(text="barking dogs"))
    assert hits[0].score == 1.0 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.message.content for h in hits if h.message} >= {"dogs bark loudly", "my dog barked"}


def test_the_summary_scope_ranks_the_summary_history() -> None:
    store = _store("hello")
    store.summaries[("t", "s")] = [
        Summary("s1", 1, "Jane talked about her garden", "m", 1, 5),
        Summary("s2", 2, "Jane planned a trip to Lisbon", "m", 2, 5),
    ]
    hits = SearchMemory(store)("t", "s", SearchQuery(text="Lisbon trip", scope=SearchScope.SUMMARY))
    assert [h.summary.uuid for h in hits if h.summary] == ["s2"] and hits[0].message is None, "summaries stand alone"


def test_a_filter_alone_lists_the_newest_matches_first() -> None:
    query = SearchQuery(where="$[*] ? (@.i >= 1)", limit=2)
    hits = SearchMemory(_store("a", "b", "c", "d"))("t", "s", query)
    assert [h.message.content for h in hits if h.message] == ["d", "c"]


def test_mmr_returns_at_most_the_limit_and_starts_with_the_best() -> None:
    store = _store("red apples", "red apples!", "green apples", "red cars")
    plain = SearchMemory(store)("t", "s", SearchQuery(text="red apples", limit=2))
    diverse = SearchMemory(store)("t", "s", SearchQuery(text="red apples", limit=2, mmr_lambda=0.2))
    assert len(diverse) == 2 and diverse[0].message == plain[0].message


def test_nothing_to_search_for_and_unknown_sessions_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        SearchMemory(_store("x"))("t", "s", SearchQuery(text=" "))
    with pytest.raises(NotFoundError):
        SearchMemory(_store("x"))("t", "nobody", SearchQuery(text="x"))
