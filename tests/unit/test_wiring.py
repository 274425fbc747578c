"""wiring.reset() forgets every cached factory, so a process can point its handlers at another DynamoDB."""

from typing import Any

import pytest

from chat_memory import wiring


def _cached_factories() -> list[Any]:
    return [
        value
        for value in vars(wiring).values()
        if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == wiring.__name__
    ]


def test_reset_forgets_every_cached_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_MODEL_ID", "amazon.titan-embed-text-v2:0")  # the embedder's factories build too
    wiring.reset()
    factories = _cached_factories()
    assert len(factories) >= 12
    for factory in factories:
        factory()  # builds clients and use cases only: no network, no tokenizer load
    assert all(f.cache_info().currsize == 1 for f in factories)
    wiring.reset()
    assert [f.__name__ for f in factories if f.cache_info().currsize] == []
