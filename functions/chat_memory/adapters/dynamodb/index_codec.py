"""How the search index is stored: terms hashed into BUCKETS buckets; one item per (bucket, sealed block) whose
binary attribute holds, for each term of that bucket, its postings (the message's position in the block, the
term's count, the message's length) as three columns of fixed-width integers (decoded in C: a search reads about
10,000 postings of a 10,000-message session; the first layout, varints, is still read); one item per block with
its messages' timestamps; one head item listing the blocks. Pure functions: no I/O."""

from __future__ import annotations

import bisect
import struct
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


# A column's width code (2 bits): its values in 1, 2 or 4 bytes (little-endian struct letters), or (_ESCAPED) in 1
# byte where those of 255 and over are 255 and listed after the postings (message lengths: a few pass 255).
_FORMATS: Final = ("B", "H", "I", "B")
_LIMITS: Final = (0xFF, 0xFFFF, 0xFFFF_FFFF)
_ESCAPED: Final = 3
_ESCAPE: Final = 0xFF


def encode_columns(postings: Mapping[str, Collection[tuple[int, int, int]]]) -> bytes:
    """The bucket's terms (sorted), then their postings, in columns of fixed width: a varint (the number of
    terms), a byte of width codes (2 bits each: ordinals, counts, lengths, posting counts), a varint (the terms'
    length) and the terms joined by NUL, each term's posting count, then per term (in order) its postings by
    ordinal as three columns (ordinals, then counts, then lengths); then, if a column is escaped, a varint (how
    many values it escaped) and each as varints: term, column, posting, value. Each kind of value takes the width
    the bucket's largest needs, or 1 byte escaped when few pass it: a reader finds its postings in C."""
    terms = sorted(postings)
    entries = [sorted(postings[term]) for term in terms]
    columns = [[entry[i] for entry in term_entries] for term_entries in entries for i in range(3)]
    codes = [_width_code([v for column in columns[i::3] for v in column], escape=True) for i in range(3)]
    sizes = [len(term_entries) for term_entries in entries]
    codes.append(_width_code(sizes, escape=False))
    names = b"\0".join(term.encode() for term in terms)
    out = bytearray()
    _varint(len(terms), out)
    out.append(codes[0] | codes[1] << 2 | codes[2] << 4 | codes[3] << 6)
    _varint(len(names), out)
    out += names
    out += struct.pack(f"<{len(sizes)}{_FORMATS[codes[3]]}", *sizes)
    escaped: list[tuple[int, int, int, int]] = []
    for n, column in enumerate(columns):
        term, kind = divmod(n, 3)
        if codes[kind] == _ESCAPED:
            escaped += [(term, kind, i, v) for i, v in enumerate(column) if v >= _ESCAPE]
            column = [min(v, _ESCAPE) for v in column]
        out += struct.pack(f"<{len(column)}{_FORMATS[codes[kind]]}", *column)
    if _ESCAPED in codes:
        _varint(len(escaped), out)
        for value in (v for entry in escaped for v in entry):
            _varint(value, out)
    return bytes(out)


def _width_code(values: Sequence[int], *, escape: bool) -> int:
    top = max(values, default=0)
    if top > _LIMITS[0] and escape and sum(v >= _ESCAPE for v in values) * 16 <= len(values):
        return _ESCAPED  # at most 1 in 16 passes a byte: escaping them costs less than wider columns
    for code, limit in enumerate(_LIMITS):
        if top <= limit:
            return code
    raise ValueError(f"a posting value over 32 bits: {top}")


def decode_columns(data: bytes, wanted: Collection[str], block: int) -> dict[str, list[Posting]]:
    """The postings of the `wanted` terms found in the bucket's data (encode_columns') of `block`."""
    if not data:
        return {}
    count, pos = _read_varint(data, 0)
    codes = [data[pos] >> shift & 3 for shift in (0, 2, 4, 6)]
    if codes[3] == _ESCAPED:
        raise ValueError("posting counts are never escaped")
    length, pos = _read_varint(data, pos + 1)
    names = data[pos : pos + length].split(b"\0") if count else []
    pos += length
    sizes = struct.unpack_from(f"<{count}{_FORMATS[codes[3]]}", data, pos)
    body = pos + count * struct.calcsize(_FORMATS[codes[3]])
    row = [struct.calcsize(_FORMATS[code]) for code in codes[:3]]
    escapes_at = body + sum(sizes) * sum(row)
    if len(names) != count or escapes_at > len(data) or (escapes_at < len(data)) != (_ESCAPED in codes[:3]):
        raise ValueError("the bucket's data does not match its directory")
    found: dict[str, list[Posting]] = {}
    escaped: dict[tuple[int, int], dict[int, int]] | None = None  # read once, when a wanted term needs it
    for term in wanted:
        name = term.encode()
        at = bisect.bisect_left(names, name)
        if at < count and names[at] == name:
            pos = body + sum(sizes[:at]) * sum(row)
            columns = [*_columns(data, pos, sizes[at], codes[:3])]
            for kind in (k for k, code in enumerate(codes[:3]) if code == _ESCAPED and _ESCAPE in columns[k]):
                escaped = _escaped(data, escapes_at) if escaped is None else escaped
                patched = list(columns[kind])
                for posting, value in escaped.get((at, kind), {}).items():
                    patched[posting] = value
                columns[kind] = patched
            found[term] = list(zip(repeat(block, sizes[at]), *columns, strict=True))
    return found


def _columns(data: bytes, pos: int, size: int, codes: Sequence[int]) -> Iterator[Sequence[int]]:
    """A term's columns of `size` values each, from `pos`, in the widths of `codes`."""
    for code in codes:
        yield struct.unpack_from(f"<{size}{_FORMATS[code]}", data, pos)
        pos += size * struct.calcsize(_FORMATS[code])


def _escaped(data: bytes, pos: int) -> dict[tuple[int, int], dict[int, int]]:
    """The escaped values, by (term, column): {posting: value}."""
    _past_varints(data, pos, 1)  # refuses a count cut short (ValueError, not IndexError)
    count, pos = _read_varint(data, pos)
    _past_varints(data, pos, 4 * count)  # and a list
    values, pos = _varints(data, pos, 4 * count)
    out: dict[tuple[int, int], dict[int, int]] = {}
    for term, kind, posting, value in zip(*[iter(values)] * 4, strict=True):
        out.setdefault((term, kind), {})[posting] = value
    if pos != len(data):
        raise ValueError("the bucket's data does not end with its escaped values")
    return out


def decode_bucket(data: bytes, wanted: Collection[str], block: int) -> dict[str, list[Posting]]:
    """The postings of the `wanted` terms found in the bucket's data of `block`, in the first layout (each term's
    posting count, then per posting: ordinal delta, tf, length, all varints), written before encode_columns. The
    other terms' postings are skipped unread: a varint ends at its first byte under 0x80, so n of them end at the
    n-th such byte."""
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
            raise ValueError("the bucket's data ends inside its varints")
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
    return {b: encode_columns(p) for b, p in by_bucket.items()}


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
