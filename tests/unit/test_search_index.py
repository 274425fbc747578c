"""The search index's pieces without AWS: its encoding, its buckets, the head, and candidate scoring that gives
the ranker's own BM25 with the whole corpus's statistics."""

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.index_codec import (
    BUCKETS,
    bucket_of,
    decode_blocks,
    decode_bucket,
    decode_columns,
    decode_docs,
    encode_blocks,
    encode_columns,
    encode_docs,
    split_block,
)
from chat_memory.adapters.dynamodb.index_reads import MAX_BUCKET_CALLS, bucket_postings, plan_buckets
from chat_memory.domain.models import RoleType, StoredMessage
from chat_memory.domain.search_index import IndexBlock, IndexHead
from chat_memory.service.candidates import best, candidate_scores, locate, next_batch, to_read, with_neighbours
from chat_memory.service.indexer import build_block
from chat_memory.service.ranking import CorpusStats, Doc, bm25, idf, query_terms, rank, terms_of

TEXTS = [
    "We adopted a puppy named Biscuit",
    "Biscuit chews every shoe in the house",
    "The kitchen is painted yellow now",
    "My sister visited Lisbon in May 2023",
    "Puppies need a lot of sleep, the vet said",
    "We bought new shoes for the trip to Lisbon",
]


def _messages(texts: list[str], start: int = 1_000) -> list[StoredMessage]:
    return [StoredMessage(f"u{i}", start + i, "Jane", RoleType.USER, t, 1) for i, t in enumerate(texts)]


def test_a_bucket_round_trips_its_postings_and_skips_other_terms() -> None:
    postings = {"puppy": [(0, 1, 5), (4, 2, 300)], "m:5": [(3, 1, 70_000)], "shoe": [(1, 1, 6), (130, 1, 9)]}
    data = encode_columns(postings)
    decoded = decode_columns(data, {"puppy", "shoe", "absent"}, 7)
    assert decoded == {t: [(7, *e) for e in postings[t]] for t in ("puppy", "shoe")}
    assert decode_columns(data, {"m:5"}, 7) == {"m:5": [(7, 3, 1, 70_000)]}
    assert decode_columns(data, set(), 7) == {}
    assert decode_columns(b"", {"puppy"}, 7) == {}


def test_a_bucket_s_columns_are_as_wide_as_their_largest_value_or_escape_a_few() -> None:
    """1 byte per value where every value fits one (as the varints did: the directory adds 2 bytes); where a few do
    not, 1 byte with those listed after; where many do not, 2 or 4 bytes; a bucket cut short is refused."""
    small = {"puppy": [(o, 1, 40) for o in range(0, 200, 2)], "shoe": [(3, 2, 9)]}
    assert len(encode_columns(small)) == len(_legacy_bucket(small)) + 2
    cases = {
        "escaped": ({"puppy": [(o, 1, 40) for o in range(0, 200, 2)], "shoe": [(3, 2, 9_000)]}, 0b00_11_00_00),
        "wide": ({"puppy": [(o, 1, 300 + o) for o in range(0, 200, 2)], "shoe": [(3, 70_000, 9)]}, 0b00_01_11_00),
        "wider": ({"puppy": [(o, 1, 40) for o in range(300)], "shoe": [(3, 70_000, 9)] * 300}, 0b01_00_10_01),
    }
    for name, (postings, codes) in cases.items():
        data = encode_columns(postings)
        assert data[1] == codes, name
        assert decode_columns(data, {"shoe", "puppy"}, 1) == {t: [(1, *e) for e in postings[t]] for t in postings}
        with pytest.raises(ValueError, match=r"directory|escaped|ends inside"):
            decode_columns(data[:-1], {"shoe"}, 1)


_POSTINGS = st.lists(
    st.tuples(st.integers(0, 5_000), st.integers(1, 400), st.integers(1, 100_000)),
    max_size=30,
    unique_by=lambda e: e[0],
)
_TERM = st.text(st.characters(codec="utf-8", blacklist_characters="\x00"), min_size=1, max_size=8)


@given(
    st.dictionaries(_TERM, _POSTINGS, max_size=8),
    st.data(),
)
def test_a_bucket_decodes_the_wanted_terms_whatever_the_others_hold(
    postings: dict[str, list[tuple[int, int, int]]], data: st.DataObject
) -> None:
    """Values of one byte and several, non-ASCII terms (sorted as their UTF-8 bytes), empty postings: in both
    layouts, the terms not wanted do not shift those read."""
    wanted = data.draw(st.sets(st.sampled_from(sorted(postings)))) if postings else set()
    expected = {t: [(3, *e) for e in sorted(postings[t])] for t in wanted}
    assert decode_columns(encode_columns(postings), wanted | {"absent"}, 3) == expected
    assert decode_bucket(_legacy_bucket(postings), wanted | {"absent"}, 3) == expected


def _legacy_bucket(postings: dict[str, list[tuple[int, int, int]]]) -> bytes:
    """The first layout, varints, which blocks sealed before the columns still hold: terms (sorted) each followed
    by NUL, its posting count and its postings (ordinal delta, tf, length)."""
    out = bytearray()
    for term in sorted(postings):
        out += term.encode() + b"\0"
        entries = sorted(postings[term])
        _append_varint(len(entries), out)
        previous = 0
        for ordinal, tf, length in entries:
            for value in (ordinal - previous, tf, length):
                _append_varint(value, out)
            previous = ordinal
    return bytes(out)


def _append_varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def test_a_bucket_item_is_read_in_the_layout_its_block_was_written() -> None:
    postings = {"puppy": [(0, 1, 5), (4, 2, 300)]}
    expected = {"puppy": [(9, 0, 1, 5), (9, 4, 2, 300)]}
    assert bucket_postings({"c": {"B": encode_columns(postings)}}, {"puppy"}, 9) == expected
    assert bucket_postings({"p": {"B": _legacy_bucket(postings)}}, {"puppy"}, 9) == expected
    assert bucket_postings({}, {"puppy"}, 9) == {}


def test_doc_timestamps_and_the_head_s_blocks_round_trip() -> None:
    docs = ((1_000, 5), (1_001, 7), (9_999_999_999, 0))
    assert decode_docs(1_000, encode_docs(1_000, docs)) == [1_000, 1_001, 9_999_999_999]
    blocks = [
        IndexBlock(1_000, 200, 4_000, 1_700_000_000_000_000),
        IndexBlock(5_000_000, 13, 90, 1_800_000_000_000_000),
    ]
    assert list(decode_blocks(10, encode_blocks(10, blocks))) == blocks


def test_buckets_are_stable_and_spread_and_a_block_splits_by_them() -> None:
    assert bucket_of("puppy") == bucket_of("puppy") and 0 <= bucket_of("puppy") < BUCKETS
    assert len({bucket_of(f"term{i}") for i in range(1_000)}) > BUCKETS * 0.9
    block = build_block(_messages(TEXTS))
    split = split_block(block)
    for term, entries in block.postings.items():
        found = decode_columns(split[bucket_of(term)], {term}, block.first_ts)[term]
        assert [(o, tf) for _, o, tf, _ in found] == list(entries)
        assert all(b == block.first_ts and length == block.docs[o][1] for b, o, _, length in found)
    assert block.docs == tuple((m.ts, len(terms_of(m.content))) for m in _messages(TEXTS))


def test_index_keys_stay_outside_the_window_and_message_ranges() -> None:
    for sk in (keys.index_bucket_sk(7, 123), keys.index_docs_sk(123), keys.INDEX_HEAD_SK):
        assert not keys.MESSAGE_SK_PREFIX <= sk <= keys.CURRENT_SUMMARY_SK
        assert not sk.startswith(keys.CHANGED_SK_PREFIX)
        assert sk < keys.MESSAGE_SK_PREFIX
    assert keys.index_block_of(keys.index_bucket_sk(7, 123)) == 123 == keys.index_block_of(keys.index_docs_sk(123))


def test_bucket_plan_takes_terms_in_priority_order_within_the_call_budget() -> None:
    terms = [f"t{i}" for i in range(40)]
    plan = plan_buckets(terms)
    assert len(plan) == MAX_BUCKET_CALLS
    planned = [t for ts in plan.values() for t in ts]
    assert planned[0] == "t0" and all(bucket_of(t) in plan for t in planned)


def test_the_head_trusts_only_blocks_sealed_before_a_time_and_locates_positions() -> None:
    head = IndexHead(0, 599, (IndexBlock(0, 200, 1, 10), IndexBlock(200, 200, 1, 20), IndexBlock(400, 200, 1, 30)))
    assert head.trusted(31) is head
    assert head.trusted(20).blocks == head.blocks[:1] and head.trusted(20).through_ts == 199
    assert head.trusted(5).blocks == () and head.trusted(5).through_ts == -1
    assert head.bases() == {0: 0, 200: 200, 400: 400}
    assert locate(head, [0, 199, 200, 599]) == [(0, 0), (0, 199), (200, 0), (400, 199)]


def test_candidate_scores_are_the_rankers_bm25_with_the_whole_corpus_statistics() -> None:
    messages = _messages(TEXTS)
    block = build_block(messages)
    query = "puppy shoes"
    terms = query_terms(query, ["Jane"])
    assert terms == ["puppy", "sho"]
    lengths = [length for _, length in block.docs]
    df = {t: len(block.postings.get(t, ())) for t in terms}
    weights = {t: idf(len(TEXTS), df[t]) for t in terms}
    avgdl = sum(lengths) / len(lengths)
    postings = {t: [(block.first_ts, o, tf, lengths[o]) for o, tf in block.postings.get(t, ())] for t in terms}
    raw = candidate_scores(postings, weights, avgdl, {block.first_ts: 0})
    for seq, score in raw.items():
        tf = Counter(t for t in terms_of(TEXTS[seq]) if t in terms)
        assert score == pytest.approx(bm25(weights, tf, lengths[seq], avgdl))
    # The ranker over one turn with the corpus's statistics: that turn's score from the whole corpus (no bigram,
    # neighbour or boost applies to a one-word match in a single doc).
    docs = [Doc(m.uuid, m.content, m.role, 0) for m in messages]
    whole = {d.key: s for d, s in rank(query, docs, 10, turns=False)}
    stats = CorpusStats(len(TEXTS), avgdl, df)
    for seq in raw:
        alone = rank(query, [docs[seq]], 1, turns=False, stats=stats)
        assert alone[0][1] == pytest.approx(whole[docs[seq].key])


def test_neighbours_share_and_only_term_holding_neighbours_are_read() -> None:
    raw = {5: 2.0, 9: 1.0}
    shared = with_neighbours(raw)
    assert shared[4] == shared[6] == pytest.approx(0.35 * 2.0) and shared[5] == 2.0
    assert best(shared, 2) == [5, 9]
    assert to_read([5, 6], {5: 2.0, 7: 1.0}, known={4}, indexed=100) == [5, 6, 7]
    assert to_read([99], {98: 1.0, 100: 1.0}, known=set(), indexed=100) == [99, 98], "past the index: in the run"
    assert math.isclose(sum(shared.values()), sum(raw.values()) + 0.35 * (2 * 2.0 + 2 * 1.0))


def test_a_filter_s_next_batch_takes_candidates_in_order_with_their_neighbours_within_room() -> None:
    raw = {10: 3.0, 11: 1.0, 20: 2.0, 30: 1.0, 31: 1.0}
    assert next_batch([10, 20, 30], 3, raw, known=set(), indexed=100) == ([10, 11, 20, 30, 31], 3)
    assert next_batch([10, 20, 30], 2, raw, known={11}, indexed=100) == ([10, 20], 2), "known: not read again"
    assert next_batch([10, 20, 30], 3, raw, known=set(), indexed=100, room=3) == ([10, 11, 20], 2)
    assert next_batch([11, 10], 2, raw, known=set(), indexed=100) == ([11, 10], 2), "a neighbour taken already"


def _record(name: str, sk: str, new: str | None, old: str | None = None, at: int = 1_700_000_000) -> dict[str, object]:
    image = {"PK": {"S": "T#t#S#s"}, "SK": {"S": sk}}
    data: dict[str, object] = {"Keys": image, "ApproximateCreationDateTime": at}
    if new is not None:
        data["NewImage"] = {**image, "content": {"S": new}}
    if old is not None:
        data["OldImage"] = {**image, "content": {"S": old}}
    return {"eventName": name, "dynamodb": data}


def test_the_indexer_hands_over_each_sessions_changed_words_once() -> None:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    from chat_memory.handlers.indexer import changes_by_session

    records = [
        _record("INSERT", keys.message_sk(5), "hello"),
        _record("MODIFY", keys.message_sk(6), "new words", "old words", at=1_700_000_002),
        _record("MODIFY", keys.message_sk(7), "same", "same"),  # a metadata PATCH or an embedding: same words
        _record("MODIFY", keys.SESSION_SK, "x", "y"),
    ]
    batch = changes_by_session([DynamoDBRecord(r) for r in records])
    assert batch == {("t", "s"): ([6], 1_700_000_002_000_000)}


def test_the_older_messages_split_into_ranges_of_whole_blocks_under_a_query_page() -> None:
    from chat_memory.adapters.dynamodb.indexed_range import cheaper_whole, ranges

    blocks = tuple(IndexBlock(1_000 + 200 * i, 200, 4_000, 0) for i in range(10))
    head = IndexHead(incarnation=900, through_ts=2_999, blocks=blocks)
    # 2,000 bytes a message: a block is 400,000 bytes, two fit under 900 KB.
    assert ranges(head, 2_950, 2_000) == [(900, 1_400), (1_400, 1_800), (1_800, 2_200), (2_200, 2_600), (2_600, 2_950)]
    assert ranges(head, 1_100, 100) == [(900, 1_100)], "the run starts inside the first block"
    assert ranges(head, 5_000, 10) == [(900, 5_000)], "small messages: one range"
    # Read units: by key each message costs a 4 KB unit; a Query, their sum.
    assert cheaper_whole(1_000, 100, 300) and not cheaper_whole(1_000, 100, 3_500)
    assert not cheaper_whole(0, 100, 300), "nothing to read"
