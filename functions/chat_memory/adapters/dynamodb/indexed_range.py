"""A filtered search's other way to its candidates, planned: every indexed message before the newest run, read at
once in ranges of about 1 MB cut at the index's block boundaries (one eventually consistent Query each: search.py
reads them), when that costs fewer read units than reading the candidates by key. A BatchGetItem rounds each
message up to 4 KB; a Query sums the messages' sizes, so a session of small messages is cheaper read whole than a
few hundred of them by key."""

from __future__ import annotations

import math
from typing import Final

from chat_memory.adapters.dynamodb.index_reads import READ_UNIT_BYTES
from chat_memory.domain.search_index import IndexHead

# A range's estimate, under a Query page's 1 MB (a range past it, its messages larger than estimated, is not used).
_RANGE_BYTES: Final = 900 * 1024


def ranges(head: IndexHead, before_ts: int, message_bytes: float) -> list[tuple[int, int]]:
    """[first_ts, end_ts) ranges covering the incarnation's messages before `before_ts`, cut where a block starts,
    each of whole blocks totalling about _RANGE_BYTES at `message_bytes` a message (at least one block)."""
    starts = [b for b in head.blocks if b.first_ts < before_ts]
    out: list[tuple[int, int]] = []
    lo, size = head.incarnation, 0.0
    for block, after in zip(starts, [*starts[1:], None], strict=True):
        size += block.docs * message_bytes
        end = after.first_ts if after is not None else before_ts
        if after is None or size + after.docs * message_bytes > _RANGE_BYTES:
            out.append((lo, end))
            lo, size = end, 0.0
    return out


def cheaper_whole(count: int, instead_of: int, message_bytes: float) -> bool:
    """Whether `count` messages of `message_bytes` cost fewer read units in Queries than `instead_of` of them by key
    (both eventually consistent: half a unit per 4 KB)."""
    by_key = instead_of * math.ceil(message_bytes / READ_UNIT_BYTES)
    return 0 < math.ceil(count * message_bytes / READ_UNIT_BYTES) < by_key
