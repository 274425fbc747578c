"""Semantic ranking without AWS: stored embeddings, their cosines, reciprocal rank fusion, the embedder's use case,
and search with a fake embedding model (fused when the messages have embeddings; lexical when the model fails)."""

import pytest

from chat_memory.domain.errors import ModelUnavailableError
from chat_memory.domain.models import CountedMessage, Embedding, NewMessage, RoleType, SearchQuery, WrittenMessage
from chat_memory.service.embed import EmbedMessage
from chat_memory.service.search import SearchMemory
from chat_memory.service.semantic import cosines, fuse, quantize
from tests.unit.fakes import InMemoryStore

_AXES = {"puppy": 0, "canine": 0, "dog": 0, "car": 1, "vehicle": 1}


class FakeEmbedder:
    model = "fake/4"

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.calls: list[tuple[str, bool]] = []

    def embed(self, text: str, *, query: bool) -> list[float]:
        self.calls.append((text, query))
        if self.down:
            raise ModelUnavailableError("injected")
        vector = [0.0, 0.0, 0.0, 0.01]
        for word in text.split():
            if word in _AXES:
                vector[_AXES[word]] += 1.0
        return vector


def test_a_stored_embedding_is_a_unit_vector_in_signed_bytes() -> None:
    stored = quantize([3.0, -4.0])
    assert list(stored) == [76, 256 - 102]  # 0.6 and -0.8 times 127
    assert cosines(stored, [stored, quantize([-3.0, 4.0]), quantize([1.0, 0.0, 0.0])]) == pytest.approx(
        [1.0, -1.0, 0.0], abs=0.01
    ), "the same direction, the opposite one, and another model's length"
    with pytest.raises(ValueError, match="zero vector"):
        quantize([0.0, 0.0])


def test_fusion_prefers_what_both_rankings_rank_well() -> None:
    fused = [key for key, _ in fuse(["a", "b", "c"], ["c", "b", "d"])]
    assert set(fused[:2]) == {"b", "c"} and set(fused) == {"a", "b", "c", "d"}


def _store_with(*contents: str, embedder: FakeEmbedder | None = None) -> InMemoryStore:
    store = InMemoryStore()
    store.create_session("t", "s", None, {})
    messages = [CountedMessage(NewMessage("Jane", RoleType.USER, c, None), 1) for c in contents]
    added = store.append_messages("t", "s", messages, None, None)
    if embedder is not None:
        embed = EmbedMessage(store, embedder)
        for content, message in zip(contents, added, strict=True):
            assert embed(WrittenMessage("t", "s", message.ts, content, None, 100, 0.0))
    return store


def test_the_embedder_embeds_a_text_once_per_model_and_never_an_old_text() -> None:
    model = FakeEmbedder()
    store = _store_with("my puppy")
    (stored,) = store.messages[("t", "s")]
    embed = EmbedMessage(store, model)
    assert embed(WrittenMessage("t", "s", stored.ts, "my puppy", None, 100, 0.0))
    assert not embed(WrittenMessage("t", "s", stored.ts, "my puppy", model.model, 100, 0.0)), "already embedded"
    assert not embed(WrittenMessage("t", "s", stored.ts, "an older text", None, 100, 0.0)), "changed since"
    assert model.calls == [("my puppy", False), ("an older text", False)]


def test_search_fuses_meaning_with_words_and_falls_back_to_words_when_the_model_fails() -> None:
    model = FakeEmbedder()
    store = _store_with("my puppy sleeps", "the vehicle is red", "a canine friend", embedder=model)
    hits = SearchMemory(store, model)("t", "s", SearchQuery(text="dog"))
    assert {h.message.content for h in hits if h.message} == {"my puppy sleeps", "a canine friend"}, "not unrelated"
    assert model.calls[-1] == ("dog", True)
    down = FakeEmbedder(down=True)
    assert SearchMemory(store, down)("t", "s", SearchQuery(text="dog")) == [], "no word matches: lexical finds none"
    lexical = SearchMemory(store, down)("t", "s", SearchQuery(text="canine"))
    assert [h.message.content for h in lexical if h.message][:1] == ["a canine friend"]


def test_no_query_embedding_when_no_message_has_one_of_this_model() -> None:
    store = _store_with("my puppy")
    (stored,) = store.messages[("t", "s")]
    store.embeddings[("t", "s")] = {stored.ts: Embedding("another/4", quantize([1.0, 0, 0, 0]))}
    model = FakeEmbedder()
    assert [h.message.content for h in SearchMemory(store, model)("t", "s", SearchQuery(text="puppy")) if h.message]
    assert model.calls == [], "another model's embeddings are not comparable: no call, lexical ranking"
