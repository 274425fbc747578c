"""Server-assigned message uuids that say where their message is stored, so finding one needs no index.

A message the caller sends without a uuid gets an RFC 9562 version 8 UUID that carries the message's timestamp
(its sort key, `MSG#{ts}`): one strongly consistent GetItem finds it, and the stored uuid, compared in full, proves
it is that message. Such a message is stored without `MsgUuid`, so it has no `MessagesByUuid` entry (one write
unit less per message). Any other uuid (a caller's) keeps the LSI entry; a caller's uuid that merely looks like
ours decodes to a timestamp whose message (if any) has another uuid, and the lookup falls back to the LSI.

Layout (128 bits, most significant first): the timestamp's high 48 bits | version 8 (4 bits) | the timestamp's
low 8 bits | a 4-bit tag | the RFC 9562 variant `10` (2 bits) | 62 random bits. Timestamps (microseconds) fit
56 bits until the year 4253.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Final

_VERSION: Final = 8
_TAG: Final = 0xC  # custom_b's last 4 bits: ours (a random version 8 uuid has them by chance 1 time in 16)
_TS_BITS: Final = 56
_RANDOM_BITS: Final = 62
_VARIANT: Final = 0b10


def located_uuid(ts: int) -> str:
    """A new uuid for the message stored at timestamp `ts` (microseconds)."""
    if not 0 <= ts < 1 << _TS_BITS:
        raise ValueError(f"timestamp out of range: {ts}")
    value = (ts >> 8) << 80 | _VERSION << 76 | (ts & 0xFF) << 68 | _TAG << 64
    value |= _VARIANT << _RANDOM_BITS | secrets.randbits(_RANDOM_BITS)
    return str(uuid.UUID(int=value))


def located_ts(message_uuid: str) -> int | None:
    """The timestamp a uuid of our form says its message is stored at; None for any other uuid."""
    try:
        value = uuid.UUID(message_uuid).int
    except ValueError:
        return None
    if (value >> 76) & 0xF != _VERSION or (value >> 64) & 0xF != _TAG or value >> _RANDOM_BITS & 0b11 != _VARIANT:
        return None
    return (value >> 80) << 8 | (value >> 68) & 0xFF
