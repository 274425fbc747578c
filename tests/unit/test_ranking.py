"""The offline lexical ranker: its tokens (case, punctuation, inflections, numbers, dates) and its ranking rules."""

import itertools
from datetime import UTC, datetime

import pytest

from chat_memory.service.ranking import Doc, rank, stem, tokens


def _ts(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def _doc(key: str, text: str, speaker: str = "Ann", day: str = "2023-05-01") -> Doc:
    return Doc(key, text, speaker, _ts(day))


def test_tokens_drop_case_punctuation_possessives_and_stop_words() -> None:
    assert tokens("Caroline's DOG, the dog; and THE Dog!") == ["carolin", "dog", "dog", "dog"]
    assert tokens("") == []
    assert tokens("the and of, it's...") == []


@pytest.mark.parametrize(
    "words",
    [
        ("paint", "painting", "paintings", "painted", "painter"),
        ("study", "studies", "studied", "studying"),
        ("adopt", "adopted", "adoption", "adopting"),
        ("stop", "stopped", "stopping"),
        ("make", "makes", "making", "made"),
        ("buy", "bought", "buys"),
        ("happy", "happily", "happiness"),
        ("box", "boxes"),
        ("child", "children"),
    ],
)
def test_inflections_share_a_stem(words: tuple[str, ...]) -> None:
    assert len({stem(w) for w in words}) == 1, {w: stem(w) for w in words}


def test_short_words_and_double_letters_are_kept() -> None:
    assert stem("bus") == "bus"
    assert stem("class") == "class"
    assert stem("glasses") == "glass"


@pytest.mark.parametrize("text", ["May 7", "7 May 2023", "on 2023-05-07.", "May 7th", "7th of May"])
def test_dates_normalise_to_month_and_day(text: str) -> None:
    assert {"m:5", "d:5:7"} <= set(tokens(text))


def test_numbers_words_and_months_that_are_words() -> None:
    assert tokens("three kids, 3 books, 007") == ["3", "kid", "3", "book", "7"]
    assert "m:5" not in tokens("we may go") and "m:5" in tokens("we go in May")
    assert "2023" in tokens("7 May 2023") and "2023" in tokens("2023-05-07")


def test_rank_is_deterministic_and_orders_by_score_then_key() -> None:
    docs = [_doc(f"k{i}", "we went hiking in the mountains", day=f"2023-0{1 + i % 9}-01") for i in range(9)]
    first = rank("hiking mountains", docs, 5)
    assert first == rank("hiking mountains", list(reversed(docs)), 5)
    assert [d.key for d, _ in first] == ["k0", "k1", "k2", "k3", "k4"]
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(first))


def test_exact_match_beats_partial_and_inflections_match() -> None:
    docs = [
        _doc("partial", "my pottery teacher is away", day="2023-01-01"),
        _doc("exact", "I signed up for pottery classes", day="2023-02-01"),
        _doc("other", "the weather was awful", day="2023-03-01"),
    ]
    keys = [d.key for d, _ in rank("Which pottery class did she sign up for?", docs, 10)]
    assert keys == ["exact", "partial"]


def test_speaker_named_in_the_query_is_preferred() -> None:
    docs = [
        _doc("ann", "I adopted a puppy", speaker="Ann", day="2023-01-01"),
        _doc("bob", "I adopted a puppy", speaker="Bob", day="2023-03-01"),
    ]
    assert rank("What did Bob adopt?", docs, 2)[0][0].key == "bob"
    assert rank("What did Ann adopt?", docs, 2)[0][0].key == "ann"


def test_month_named_in_the_query_prefers_turns_of_that_month() -> None:
    docs = [
        _doc("april", "reading a good book", day="2023-04-10"),
        _doc("june", "reading a good book", day="2023-06-10"),
    ]
    assert rank("What book was she reading in June 2023?", docs, 2)[0][0].key == "june"
    assert rank("What book was she reading in April?", docs, 2)[0][0].key == "april"


def test_a_reply_gains_from_the_question_before_it() -> None:
    docs = [
        _doc("ask", "What did you get your mom for her birthday?", speaker="Bob", day="2023-01-01T10:00:00"),
        _doc("answer", "A telescope! She loved it.", day="2023-01-01T10:02:00"),
        _doc("far", "A telescope is on sale", day="2023-03-01"),
    ]
    keys = [d.key for d, _ in rank("What birthday present did Ann give her mom, a telescope?", docs, 3)]
    assert keys.index("answer") < keys.index("far")


def test_docs_a_filter_rejects_are_context_only_and_scores_stay_those_of_the_unfiltered_ranking() -> None:
    docs = [
        _doc("ask", "What did you get your mom for her birthday?", speaker="Bob", day="2023-01-01T10:00:00"),
        _doc("answer", "A telescope! She loved it.", day="2023-01-01T10:02:00"),
        _doc("far", "A telescope is on sale", day="2023-03-01"),
    ]
    query = "What birthday present did Ann give her mom, a telescope?"
    unfiltered = dict((d.key, s) for d, s in rank(query, docs, 3))
    filtered = rank(query, docs, 3, eligible={"answer", "far"})
    assert [d.key for d, _ in filtered] == ["answer", "far"], "the question is not answered, only its context"
    assert all(score == unfiltered[d.key] for d, score in filtered), "the question still shares in its reply"


def test_empty_query_docs_or_limit() -> None:
    docs = [_doc("a", "hello world")]
    assert rank("", docs, 5) == []
    assert rank("the and of", docs, 5) == []
    assert rank("hello", [], 5) == []
    assert rank("hello", docs, 0) == []
    assert rank("unrelated", docs, 5) == []


def test_a_name_in_the_query_matches_the_speaker_not_the_greetings() -> None:
    docs = [
        _doc("greeting", "Hey Bob, how are you?", speaker="Ann", day="2023-01-01"),
        _doc("fact", "I adopted a puppy", speaker="Bob", day="2023-02-01"),
    ]
    assert [d.key for d, _ in rank("What did Bob adopt?", docs, 5)] == ["fact"]
    assert rank("Bob", docs, 5) == []
