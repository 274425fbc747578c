"""Strict mode: DynamoDB's documented size limits, which moto 5.2 does not enforce, answered as DynamoDB answers.

On by default wherever the engine is installed (tests, benchmarks, `chat-memory serve`). `CHAT_MEMORY_LOCALDB_STRICT=0`
(or `false`, `no`, `off`), read at every call, turns it off: moto's own checks apply again (an item measured its way
against 405,000 bytes; no limit on key lookups, transactions' size, batches of writes or item collections).

Sizes follow "DynamoDB item sizes and formats" (developer guide), written here independently of the product's own
accounting: an attribute is its name's UTF-8 bytes plus its value's size; S its UTF-8 bytes, B its raw bytes,
BOOL/NULL 1, L/M 3 + 1 per element + the elements (+ their names, for M), a set the sum of its members; N is 1 byte
+ 1 per *pair* of digits, pairs aligned on the decimal point, from the first significant digit to the last (+ 1 if
negative; 0 is 1 byte): the guide's "1 byte per two significant digits, plus 1", as the 23 numbers measured on AWS at
the 400 KB boundary by paritysuite/dynamodb-conformance (src/item-size.ts) come out (123: 3 bytes, 3.14159: 5).

The limits, and DynamoDB's answers (botocore's Error Code: message):

- An item is at most 409,600 bytes (PutItem, BatchWriteItem puts, TransactWriteItems Puts): ValidationException:
  "Item size has exceeded the maximum allowed size" (for a transaction too: a Put's size is known from the request).
- The item an UpdateItem makes, measured whole (as 10 AWS regions do; the others measure what the update writes):
  ValidationException: "Item size to update has exceeded the maximum allowed size". After an Update of
  TransactWriteItems: TransactionCanceledException, reason ValidationError with that message (an Update's size is
  known only while the transaction runs; paritysuite/dynamodb-conformance, tests/tier3/limits/itemSizeBySurface).
- A partition key value is at most 2,048 bytes, a sort key value 1,024 (an item's table and index keys; the Key of
  GetItem, UpdateItem, DeleteItem, BatchGetItem, BatchWriteItem): ValidationException: "One or more parameter values
  were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes" (AWS's own missing space) or
  "... Aggregated size of all range keys has exceeded the size limit of 1024 bytes". In an action of
  TransactWriteItems or TransactGetItems: TransactionCanceledException, reason ValidationError with that message.
- TransactWriteItems and TransactGetItems have at most 100 actions: ValidationException: "1 validation error
  detected: Value at 'TransactItems' failed to satisfy constraint: Member must have length less than or equal to
  100". At most 4 MB: Puts' items, Updates' resulting items, the keys of Deletes and ConditionChecks (deleting 5 MB
  of items in one is allowed: ScyllaDB's Alternator tests, run against AWS), the items a TransactGetItems reads:
  ValidationException: TRANSACTION_TOO_LARGE (not AWS's exact words, which were not found: they contain "size
  cannot exceed" and speak of the transaction's payload).
- BatchGetItem asks for at most 100 keys: ValidationException: "Too many items requested for the BatchGetItem call"
  (more than 100 for one table: "1 validation error detected: Value at 'RequestItems.<table>.member.Keys' failed to
  satisfy constraint: Member must have length less than or equal to 100"). It answers at most 16 MB: the keys past
  that, in request order, come back in UnprocessedKeys.
- BatchWriteItem has at most 25 requests (moto takes any number): ValidationException: "Too many items requested
  for the BatchWriteItem call" (one table: "... Value at 'RequestItems.<table>.member' ... less than or equal to 25").
- An item collection (a partition's items plus their local secondary index entries) of a table with an LSI is at
  most 10 GB (ITEM_COLLECTION_BYTES): ItemCollectionSizeLimitExceededException: "Item collection size limit
  exceeded"; in a transaction, TransactionCanceledException, reason ItemCollectionSizeLimitExceeded: "Collection size
  exceeded." The count is kept per partition as items are written (`storage.Partition.collection_bytes`).

Query and Scan pages stop at 1 MB (1,000,000 bytes: moto's and `storage.page`'s, measured as here in strict mode).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

STRICT_ENV: Final = "CHAT_MEMORY_LOCALDB_STRICT"

MAX_ITEM_BYTES: Final = 400 * 1024
MAX_HASH_KEY_BYTES: Final = 2048
MAX_RANGE_KEY_BYTES: Final = 1024
MAX_TRANSACTION_ACTIONS: Final = 100
MAX_TRANSACTION_BYTES: Final = 4 * 1024 * 1024
MAX_BATCH_GET_KEYS: Final = 100
MAX_BATCH_GET_BYTES: Final = 16 * 1024 * 1024
MAX_BATCH_WRITE_REQUESTS: Final = 25
ITEM_COLLECTION_BYTES = 10 * 1024**3  # not Final: a test lowers it (monkeypatch)

ITEM_TOO_LARGE: Final = "Item size has exceeded the maximum allowed size"
UPDATE_TOO_LARGE: Final = "Item size to update has exceeded the maximum allowed size"
HASH_KEY_TOO_LARGE: Final = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
RANGE_KEY_TOO_LARGE: Final = (
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of "
    "1024 bytes"
)
TOO_MANY_ACTIONS: Final = (
    "1 validation error detected: Value at 'TransactItems' failed to satisfy constraint: Member must have length "
    "less than or equal to 100"
)
TRANSACTION_TOO_LARGE: Final = "Transaction payload size cannot exceed 4 MB"
COLLECTION_TOO_LARGE: Final = "Item collection size limit exceeded"
COLLECTION_REASON: Final = "Collection size exceeded."


def enabled() -> bool:
    return os.environ.get(STRICT_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


class LimitExceededError(Exception):
    """A request over a limit: DynamoDB's error (`code`, `message`) and, for an action of a transaction, its
    cancellation reason (`reason`, `reason_message`)."""

    def __init__(self, code: str, message: str, reason: str = "ValidationError", reason_message: str = "") -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.reason, self.reason_message = reason, reason_message or message


class CancelledError(LimitExceededError):
    """A transaction cancelled before it ran: a reason per action, None for the actions that were fine."""

    def __init__(self, reasons: list[LimitExceededError | None]) -> None:
        super().__init__("TransactionCanceledException", "Transaction cancelled")
        self.reasons = reasons


def _invalid(message: str) -> LimitExceededError:
    return LimitExceededError("ValidationException", message)


def collection_too_large() -> LimitExceededError:
    return LimitExceededError(
        "ItemCollectionSizeLimitExceededException",
        COLLECTION_TOO_LARGE,
        "ItemCollectionSizeLimitExceeded",
        COLLECTION_REASON,
    )


# ------------------------------------------------------------------------------------------------------ sizes


def number_size(text: str) -> int:
    sign, digits, exponent = Decimal(text).as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"not a DynamoDB number: {text}")
    significant = list(digits)
    while significant and significant[-1] == 0:
        significant.pop()
        exponent += 1
    if not significant:
        return 1
    highest = exponent + len(significant) - 1  # the power of ten of the first significant digit
    return 1 + (highest // 2 - exponent // 2 + 1) + sign


def _binary_size(raw: Any) -> int:
    return len(raw) if isinstance(raw, bytes | bytearray) else len(base64.b64decode(raw))


def value_size(value: Any) -> int:
    """An attribute value's size: a moto DynamoType or DynamoDB JSON ({"S": "..."})."""
    if isinstance(value, Mapping):
        ((kind, raw),) = value.items()
    else:
        kind, raw = value.type, value.value
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(number_size(n) for n in raw)
    if kind == "BS":
        return sum(_binary_size(b) for b in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    raise ValueError(f"not a DynamoDB type: {kind}")


def attributes_size(attrs: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in attrs.items())


def item_size(item: Any) -> int:
    """A moto Item's size."""
    return attributes_size(item.attrs)


# ----------------------------------------------------------------------------------------------------- checks


def _key_error(table: Any, attrs: Mapping[str, Any], *, with_indexes: bool) -> LimitExceededError | None:
    hashes, ranges = [table.hash_key_attr], [table.range_key_attr]
    if with_indexes:
        for index in [*(table.indexes or []), *(table.global_indexes or [])]:
            for part in index.schema:
                (hashes if part["KeyType"] == "HASH" else ranges).append(part["AttributeName"])
    if any(name in attrs and value_size(attrs[name]) > MAX_HASH_KEY_BYTES for name in hashes):
        return _invalid(HASH_KEY_TOO_LARGE)
    if any(name in attrs and value_size(attrs[name]) > MAX_RANGE_KEY_BYTES for name in ranges if name):
        return _invalid(RANGE_KEY_TOO_LARGE)
    return None


def _check_key(table: Any, key: Mapping[str, Any]) -> None:
    error = _key_error(table, key, with_indexes=False)
    if error is not None:
        raise error


def _check_item(table: Any, item: Mapping[str, Any]) -> None:
    error = _key_error(table, item, with_indexes=True)
    if error is not None:
        raise error
    if attributes_size(item) > MAX_ITEM_BYTES:
        raise _invalid(ITEM_TOO_LARGE)


def check_updated_item(item: Any) -> None:
    """The item an UpdateItem made (moto changed it in place; the call's undo log puts it back)."""
    if item is not None and item_size(item) > MAX_ITEM_BYTES:
        raise _invalid(UPDATE_TOO_LARGE)


def _check_batch_counts(requests: Mapping[str, list[Any]], limit: int, operation: str, member: str) -> None:
    for table_name, listed in requests.items():
        if len(listed) > limit:
            raise _invalid(
                f"1 validation error detected: Value at 'RequestItems.{table_name}.{member}' failed to satisfy "
                f"constraint: Member must have length less than or equal to {limit}"
            )
    if sum(len(listed) for listed in requests.values()) > limit:
        raise _invalid(f"Too many items requested for the {operation} call")


def _put_item(backend: Any, body: Mapping[str, Any]) -> None:
    _check_item(backend.get_table(body["TableName"]), body["Item"])


def _keyed(backend: Any, body: Mapping[str, Any]) -> None:
    _check_key(backend.get_table(body["TableName"]), body["Key"])


def _batch_write_item(backend: Any, body: Mapping[str, Any]) -> None:
    requests = body["RequestItems"]
    _check_batch_counts(requests, MAX_BATCH_WRITE_REQUESTS, "BatchWriteItem", "member")
    for table_name, listed in requests.items():
        table = backend.get_table(table_name)
        for request in listed:
            if "PutRequest" in request:
                _check_item(table, request["PutRequest"]["Item"])
            elif "DeleteRequest" in request:
                _check_key(table, request["DeleteRequest"]["Key"])


def _batch_get_item(backend: Any, body: Mapping[str, Any]) -> None:
    requests = {name: entry["Keys"] for name, entry in body["RequestItems"].items()}
    _check_batch_counts(requests, MAX_BATCH_GET_KEYS, "BatchGetItem", "member.Keys")
    for table_name, keys in requests.items():
        table = backend.get_table(table_name)
        for key in keys:
            _check_key(table, key)


def _action_key(table: Any, op_type: str, op: Mapping[str, Any]) -> dict[str, Any]:
    attrs = op["Item"] if op_type == "Put" else op["Key"]
    return {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name and name in attrs}


def _cancel_for_keys(backend: Any, actions: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    reasons: list[LimitExceededError | None] = []
    for op_type, op in actions:
        table = backend.get_table(op["TableName"])
        attrs = op["Item"] if op_type == "Put" else op["Key"]
        reasons.append(_key_error(table, attrs, with_indexes=op_type == "Put"))
    if any(reasons):
        raise CancelledError(reasons)


def action_size(backend: Any, op_type: str, op: Mapping[str, Any], stored: Any = None) -> int:
    """What an action of TransactWriteItems counts towards its 4 MB: a Put its item, an Update the item it made
    (`stored`; its key before it ran), a Delete or a ConditionCheck its key."""
    if op_type == "Put":
        return attributes_size(op["Item"])
    if op_type == "Update" and stored is not None:
        return item_size(stored)
    return attributes_size(_action_key(backend.get_table(op["TableName"]), op_type, op))


def _transact_write_items(backend: Any, body: Mapping[str, Any]) -> None:
    items = body["TransactItems"]
    if len(items) > MAX_TRANSACTION_ACTIONS:
        raise _invalid(TOO_MANY_ACTIONS)
    actions = [next(iter(action.items())) for action in items]
    if any(op_type == "Put" and attributes_size(op["Item"]) > MAX_ITEM_BYTES for op_type, op in actions):
        raise _invalid(ITEM_TOO_LARGE)  # known from the request: refused before the transaction runs
    _cancel_for_keys(backend, actions)
    if sum(action_size(backend, op_type, op) for op_type, op in actions) > MAX_TRANSACTION_BYTES:
        raise _invalid(TRANSACTION_TOO_LARGE)


def check_transaction_size(total: int) -> None:
    if total > MAX_TRANSACTION_BYTES:
        raise _invalid(TRANSACTION_TOO_LARGE)


def _transact_get_items(backend: Any, body: Mapping[str, Any]) -> None:
    items = body["TransactItems"]
    if len(items) > MAX_TRANSACTION_ACTIONS:
        raise _invalid(TOO_MANY_ACTIONS)
    gets = [action["Get"] for action in items]
    _cancel_for_keys(backend, (("Get", get) for get in gets))
    found = (backend.get_item(get["TableName"], get["Key"]) for get in gets)
    check_transaction_size(sum(item_size(item) for item in found if item is not None))


_CHECKS: Final = {
    "put_item": _put_item,
    "update_item": _keyed,
    "delete_item": _keyed,
    "get_item": _keyed,
    "batch_write_item": _batch_write_item,
    "batch_get_item": _batch_get_item,
    "transact_write_items": _transact_write_items,
    "transact_get_items": _transact_get_items,
}
CHECKED_ACTIONS: Final = tuple(_CHECKS)


def check_request(backend: Any, action: str, body: Mapping[str, Any]) -> None:
    """Refuse a request (DynamoHandler method `action`) over a limit before moto runs it. A request malformed in
    another way is left to moto's own validation."""
    try:
        _CHECKS[action](backend, body)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, StopIteration):
        return


def cut_batch_get(backend: Any, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """BatchGetItem's 16 MB: the keys whose items would take the answer past it are taken out of `body` (request
    order) and returned, as UnprocessedKeys."""
    unprocessed: dict[str, dict[str, Any]] = {}
    total, full = 0, False
    for table_name, request in body["RequestItems"].items():
        kept = []
        for key in request["Keys"]:
            if not full:
                item = backend.get_item(table_name, key)
                size = item_size(item) if item is not None else 0
                full = total + size > MAX_BATCH_GET_BYTES
                if not full:
                    total += size
                    kept.append(key)
                    continue
            rest = unprocessed.setdefault(table_name, {**request, "Keys": []})
            rest["Keys"].append(key)
        request["Keys"] = kept
    return unprocessed
