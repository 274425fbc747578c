"""What DynamoDB counts against its size limits, computed before a write so that a request over a limit is the
caller's 413, never DynamoDB's ValidationException (a 500). moto enforces none of these.

The rules ("Item sizes and formats" in DynamoDB's developer guide): an item is the UTF-8 length of each attribute
name plus its value; a string its UTF-8 length, a number 1 byte per two significant digits plus 1, a boolean or
null 1 byte, a list or map 3 bytes plus 1 byte per element plus its elements (a map's keys counted as names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from chat_memory.domain.errors import PayloadTooLargeError

MAX_ITEM_BYTES: Final = 400 * 1024  # an item, attribute names included
MAX_TRANSACTION_BYTES: Final = 4 * 1024 * 1024  # the items of one TransactWriteItems together
# Room a caller's change must leave in an item for the bookkeeping that later writes add (counters gaining digits,
# the write token): so a session filled to the brim by metadata can still take messages.
BOOKKEEPING_BYTES: Final = 256


def _number_size(text: str) -> int:
    digits = text.lstrip("-+").lower().split("e", 1)[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one AttributeValue (`{"S": ...}`, `{"N": ...}`, ...)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"not an attribute value: {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def ensure_item_fits(item: Mapping[str, Mapping[str, Any]], what: str, *, before: int | None = None) -> int:
    """The item's size, or a 413 that says how much room `what` had. `before`: the stored item's size, when the
    write is the caller's change to it (the change must then leave BOOKKEEPING_BYTES free)."""
    size = item_size(item)
    limit = MAX_ITEM_BYTES if before is None else MAX_ITEM_BYTES - BOOKKEEPING_BYTES
    if size <= limit or (before is not None and size <= before <= MAX_ITEM_BYTES):
        return size  # fits, or the change does not grow it
    room = f"; it has {max(0, limit - before):,} bytes of room left" if before is not None else ""
    raise PayloadTooLargeError(
        f"{what} would be stored as {size:,} bytes, over the {limit:,} bytes one DynamoDB item can hold{room}: "
        "nothing was stored"
    )


def ensure_transaction_fits(items: Sequence[Mapping[str, Mapping[str, Any]]]) -> None:
    """A 413 unless the items of one transaction, as stored, fit DynamoDB's 4 MB together."""
    total = sum(item_size(i) for i in items)
    if total > MAX_TRANSACTION_BYTES:
        raise PayloadTooLargeError(
            f"this request's messages would be stored as {total:,} bytes with the session, over the "
            f"{MAX_TRANSACTION_BYTES:,} bytes of one DynamoDB transaction: nothing was stored; send them in several "
            "add_memory calls"
        )
