"""token_count comes from the cl100k_base file shipped in the package: never a download."""

import socket
from pathlib import Path
from typing import Any

import pytest
import tiktoken.registry
import tiktoken_ext

from chat_memory.adapters import tokenizer


def test_counts_the_seed_messages_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_network(*_: Any, **__: Any) -> None:
        raise AssertionError("the tokenizer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    # An empty cache: nothing downloaded earlier can help. tiktoken copies the file it verified into it.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokenizer._encoding.cache_clear()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # tiktoken's own cache of loaded encodings
    counter = tokenizer.TiktokenCounter()
    assistant = (
        "assistant: Parable of the Sower is a science fiction novel by Octavia Butler, published in 1993. It follows"
        " the story of Lauren Olamina, a young woman living in a dystopian future where society has collapsed due to"
        " environmental disasters, poverty, and violence."
    )
    assert counter.count(assistant) == 56
    assert counter.count("user: Write a short synopsis of Butler's book, Parable of the Sower. What is it about?") == 23
    assert counter.count("user: <|endoftext|>") > 1, "special-token look-alikes in user text count as text"
    shipped = Path(tiktoken_ext.__path__[0]) / "data" / "cl100k_base.tiktoken"
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [shipped.read_bytes()]
