"""The per-session term index of search, in the domain's terms: sealed blocks of consecutive messages, their
postings, and the head that lists them (built in the background by the indexer, read by search)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from chat_memory.domain.models import SearchableMessage


@dataclass(frozen=True, slots=True)
class IndexBlock:
    """A sealed block: `docs` consecutive messages from `first_ts`, `length` terms in all, written at `sealed_at`
    (microseconds)."""

    first_ts: int
    docs: int
    length: int
    sealed_at: int


@dataclass(frozen=True, slots=True)
class IndexHead:
    """What a session's index covers: its blocks, oldest first, every message up to `through_ts` of the session's
    incarnation `incarnation` (its first_ts); every content change written before `synced_at` (microseconds) is in
    the blocks. `version`: the head's optimistic version (0: not stored yet)."""

    incarnation: int
    through_ts: int
    blocks: tuple[IndexBlock, ...] = ()
    synced_at: int = 0
    version: int = 0

    @property
    def docs(self) -> int:
        return sum(b.docs for b in self.blocks)

    @property
    def length(self) -> int:
        return sum(b.length for b in self.blocks)

    def bases(self) -> dict[int, int]:
        """Each block's first_ts -> the position in the session of its first message."""
        out, base = {}, 0
        for block in self.blocks:
            out[block.first_ts] = base
            base += block.docs
        return out

    def trusted(self, before: int) -> IndexHead:
        """The head without the blocks sealed at or after `before` (and all after them): what a reader that may
        not see the newest writes yet can use."""
        kept = []
        for block in self.blocks:
            if block.sealed_at >= before:
                break
            kept.append(block)
        if len(kept) == len(self.blocks):
            return self
        through = self.blocks[len(kept)].first_ts - 1
        return replace(self, blocks=tuple(kept), through_ts=through)


@dataclass(frozen=True, slots=True)
class IndexState:
    """A live session's incarnation (its first_ts), its number of messages and its index head, if one is stored."""

    first_ts: int
    message_count: int
    head: IndexHead | None


def empty_head(incarnation: int, version: int = 0) -> IndexHead:
    return IndexHead(incarnation=incarnation, through_ts=incarnation - 1, version=version)


# One message holding a term: (its block, its position in the block, the term's count, the message's length in
# terms). A plain tuple: a search decodes thousands of them, built in C (index_codec.decode_columns); a NamedTuple
# costs a Python call each, a frozen dataclass about three times that.
Posting = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class IndexHits:
    """What the index holds for a search's terms: each term's postings (a term the store could not read is
    absent) and, when the store read them along, the message timestamps of every block (by first_ts), which
    locate the postings' messages."""

    postings: dict[str, list[Posting]]
    timestamps: Mapping[int, Sequence[int]] | None = None


@dataclass(frozen=True, slots=True)
class BlockDoc:
    """A message of a block being built: its timestamp and its terms."""

    ts: int
    terms: Sequence[str]


@dataclass(frozen=True, slots=True)
class BuiltBlock:
    """A block ready to store: its messages in order (timestamp, length) and, per term, its postings
    (ordinal, tf)."""

    first_ts: int
    docs: tuple[tuple[int, int], ...]
    postings: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return sum(length for _, length in self.docs)


@dataclass(frozen=True, slots=True)
class SearchView:
    """What a search reads first. Without `head` (a short session, or no usable index), `messages` is the whole
    session (as far as search reads it), oldest first. With it, `messages` is the newest run of the session, oldest
    first, without a gap: every message after `head.through_ts` (and maybe some before); `changed` the messages
    before the run changed lately (re-read strongly consistent: the index may not have seen the change yet)."""

    messages: list[SearchableMessage]
    head: IndexHead | None = None
    changed: list[SearchableMessage] = field(default_factory=list)
    message_bytes: float = 0.0  # the newest messages' mean stored size: the store's estimate of reading others
