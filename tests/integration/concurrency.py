"""What every concurrent-writers test checks: W writers, each sending R requests of M messages to ONE session."""

import itertools
from collections.abc import Sequence
from typing import Any


def content(writer: int, request: int, index: int) -> str:
    """The tag of a message: writer:request:index."""
    return f"{writer}:{request}:{index}"


def written_by(writer: int, requests: int, per_request: int) -> list[str]:
    """A writer's messages in the order it sent them."""
    return [content(writer, r, i) for r in range(requests) for i in range(per_request)]


def assert_nothing_lost(
    contents: Sequence[str], stamps: Sequence[Any], writers: int, requests: int, per_request: int
) -> None:
    """The session's messages (`contents`, oldest first, with their `stamps`) hold every write exactly once, each
    writer's order, strictly increasing timestamps, and each request's messages side by side (one transaction)."""
    total = writers * requests * per_request
    assert len(contents) == total, f"every message present: {len(contents)} of {total}"
    assert len(set(contents)) == total, "and exactly once"
    assert set(contents) == {c for w in range(writers) for c in written_by(w, requests, per_request)}
    assert all(a < b for a, b in itertools.pairwise(stamps)), "created_at strictly increases"
    for writer in range(writers):
        own = [c for c in contents if c.startswith(f"{writer}:")]
        assert own == written_by(writer, requests, per_request), f"writer {writer}'s order is kept"
    for first in range(0, total, per_request):
        batch = contents[first : first + per_request]
        assert len({c.rsplit(":", 1)[0] for c in batch}) == 1, "one request's messages stay together"
