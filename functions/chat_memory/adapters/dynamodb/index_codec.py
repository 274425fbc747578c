"""How the search index is stored: terms hashed into BUCKETS buckets; one item per (bucket, sealed block) whose
binary attribute holds, for each term of that bucket, its postings (the message's position in the block, the
term's count, the message's length), all as varints; one item per block with its messages' timestamps; one head
item listing the blocks. Pure functions: no I/O."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import accumulate, repeat
from typing import Final

from chat_memory.domain.search_index import BuiltBlock, IndexBlock, Posting

BUCKETS: Final = 128  # one block's postings spread over this many items (each under 1 KB: 1 write unit)
_TERM_END: Final = 0


def bucket_of(term: str) -> int:
    """The bucket of a term: stable across processes and versions (CRC-32, not Python's salted hash)."""
    return zlib.crc32(term.encode()) % BUCKETS


def _varint(value: int, out: bytearray) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def encode_bucket(postings: Mapping[str, Collection[tuple[int, int, int]]]) -> bytes:
    """Terms (sorted) each followed by NUL, its posting count and its postings: ordinal delta, tf, length."""
    out = bytearray()
    for term in sorted(postings):
        out += term.encode()
        out.append(_TERM_END)
        entries = sorted(postings[term])
        _varint(len(entries), out)
        previous = 0
        for ordinal, tf, length in entries:
            _varint(ordinal - previous, out)
            _varint(tf, out)
            _varint(length, out)
            previous = ordinal
    return bytes(out)


def decode_bucket(data: bytes, wanted: Collection[str], block: int) -> dict[str, list[Posting]]:
    """The postings of the `wanted` terms found in the bucket's data of `block`. The other terms' postings are
    skipped unread: a varint ends at its first byte under 0x80, so n of them end at the n-th such byte."""
    found: dict[str, list[Posting]] = {}
    pos = 0
    while pos < len(data):
        end = data.index(_TERM_END, pos)
        term = data[pos:end].decode()
        count, pos = _read_varint(data, end + 1)
        if term not in wanted:
            pos = _past_varints(data, pos, 3 * count)
            continue
        raw = data[pos : pos + 3 * count]
        values: Sequence[int]
        if len(raw) == 3 * count and not raw.translate(None, _SMALL):  # every value a byte: read in C
            values, pos = raw, pos + 3 * count
        else:
            values, pos = _varints(data, pos, 3 * count)
        ordinals = accumulate(values[0::3])
        found[term] = list(zip(repeat(block, count), ordinals, values[1::3], values[2::3], strict=True))
    return found


_SMALL: Final = bytes(range(0x80))  # the bytes that end a varint (deleted: what is left continues one)


def _past_varints(data: bytes, pos: int, n: int) -> int:
    """The position after n varints from `pos`: of k bytes, those of 0x80 and over end no varint, so that many
    more bytes are needed; repeated until none is (each step in C)."""
    while n:
        segment = data[pos : pos + n]
        if len(segment) < n:
            raise ValueError("the bucket's data ends inside its postings")
        pos, n = pos + n, len(segment.translate(None, _SMALL))
    return pos


def _varints(data: bytes, pos: int, n: int) -> tuple[list[int], int]:
    """n varints from `pos` and the position after them (one-byte ones read inline: most are)."""
    out: list[int] = []
    append = out.append
    for _ in range(n):
        byte = data[pos]
        if byte < 0x80:
            append(byte)
            pos += 1
        else:
            value, pos = _read_varint(data, pos)
            append(value)
    return out, pos


def split_block(block: BuiltBlock) -> dict[int, bytes]:
    """A block's postings by bucket, encoded (buckets without a term are absent)."""
    lengths = [length for _, length in block.docs]
    by_bucket: dict[int, dict[str, list[tuple[int, int, int]]]] = {}
    for term, entries in block.postings.items():
        bucket = by_bucket.setdefault(bucket_of(term), {})
        bucket[term] = [(ordinal, tf, lengths[ordinal]) for ordinal, tf in entries]
    return {b: encode_bucket(p) for b, p in by_bucket.items()}


def encode_docs(first_ts: int, docs: Collection[tuple[int, int]]) -> bytes:
    """A block's messages: each one's timestamp as the gap to the one before (the first's to first_ts)."""
    out = bytearray()
    previous = first_ts
    for ts, _ in docs:
        _varint(ts - previous, out)
        previous = ts
    return bytes(out)


def decode_docs(first_ts: int, data: bytes) -> list[int]:
    """The timestamps of a block's messages, in order."""
    out: list[int] = []
    pos, ts = 0, first_ts
    while pos < len(data):
        gap, pos = _read_varint(data, pos)
        ts += gap
        out.append(ts)
    return out


def encode_blocks(incarnation: int, blocks: Collection[IndexBlock]) -> bytes:
    """The head's block list: first_ts (as the gap to the one before), docs, length, sealed_at in seconds."""
    out = bytearray()
    previous = incarnation
    for block in blocks:
        _varint(block.first_ts - previous, out)
        _varint(block.docs, out)
        _varint(block.length, out)
        _varint(block.sealed_at // 1_000_000, out)
        previous = block.first_ts
    return bytes(out)


def decode_blocks(incarnation: int, data: bytes) -> Iterator[IndexBlock]:
    pos, first = 0, incarnation
    while pos < len(data):
        gap, pos = _read_varint(data, pos)
        docs, pos = _read_varint(data, pos)
        length, pos = _read_varint(data, pos)
        sealed, pos = _read_varint(data, pos)
        first += gap
        yield IndexBlock(first_ts=first, docs=docs, length=length, sealed_at=sealed * 1_000_000)
