"""`chat-memory import --from-langchain-table NAME`: LangChain's `DynamoDBChatMessageHistory` table (its default
layout: partition key `SessionId`, the conversation a list `History` of `messages_to_dict` entries) as lines of the
format: one session per item, its messages in list order, timestamps assigned increasing from the time of import,
token counts by the service's tokenizer. Uuids are derived from the table and the session id, so a re-run
recognises (and skips) the sessions it imported before. What LangChain keeps beside the text and the type
(`additional_kwargs`, `tool_calls`, `id`, `name`, ...) goes to the message's metadata under `langchain`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from chat_memory.adapters.dynamodb.items import from_item
from chat_memory.adapters.dynamodb.table import now_micros
from chat_memory.adapters.tokenizer import TiktokenCounter
from chat_memory.domain.models import RoleType, rfc3339_from_micros
from chat_memory_dev.transfer.format import FormatError, Line, MessageLine, SessionEndLine, SessionLine, describe
from chat_memory_dev.transfer.importer import Numbered

KEY = "SessionId"
HISTORY = "History"
_NAMESPACE = uuid.UUID("6f1d3c52-6a43-4c1e-9a57-2f0c1b7e5d10")  # of the uuids of imported LangChain sessions
_ROLE_TYPES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}
_KEPT = frozenset({"content", "type", "role"})  # what the message's own fields hold


def scan(client: Any, table_name: str) -> Iterator[Mapping[str, Any]]:
    """Every item of the table, a page (1 MB) at a time."""
    for page in client.get_paginator("scan").paginate(TableName=table_name):
        yield from page.get("Items", [])


def langchain_lines(
    items: Iterator[Mapping[str, Any]], table_name: str, clock: Callable[[], int] = now_micros
) -> Iterator[Numbered]:
    counter = TiktokenCounter()
    for number, item in enumerate(items, 1):
        values = from_item(item)
        session_id = values.get(KEY)
        where = f"LangChain item {number} (SessionId {session_id!r})"
        if not isinstance(session_id, str):
            raise FormatError(f"LangChain item {number}: no string `{KEY}` (only the default key layout is read)")
        history = values.get(HISTORY, [])
        if not isinstance(history, list):
            raise FormatError(f"{where}: `{HISTORY}` is not a list")
        yield from _session(where, table_name, session_id, [_plain(m) for m in history], clock(), counter)


def _session(
    where: str, table_name: str, session_id: str, history: list[Any], start: int, counter: TiktokenCounter
) -> Iterator[Numbered]:
    session_uuid = uuid.uuid5(_NAMESPACE, f"{table_name}\n{session_id}")
    last = start + max(len(history) - 1, 0)
    times = {"created_at": rfc3339_from_micros(start), "updated_at": rfc3339_from_micros(last)}
    yield where, _line(where, SessionLine, session_id=session_id, uuid=str(session_uuid), **times)
    for index, entry in enumerate(history):
        at = f"{where}, message {index + 1}"
        fields = _message_fields(at, entry, counter)
        message_uuid = str(uuid.uuid5(session_uuid, str(index)))
        yield at, _line(at, MessageLine, uuid=message_uuid, created_at=rfc3339_from_micros(start + index), **fields)
    yield where, SessionEndLine(session_id=session_id, messages=len(history), summaries=0)


def _message_fields(where: str, entry: Any, counter: TiktokenCounter) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict):
        raise FormatError(f"{where}: not a LangChain message (`type` and `data`)")
    data: dict[str, Any] = entry["data"]
    kind = str(entry.get("type") or data.get("type") or "")
    content = data.get("content", "")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    extras = {k: v for k, v in data.items() if k not in _KEPT and v not in (None, "", [], {})}
    role = str(data.get("role") or kind) if kind == "chat" else kind
    return {
        "role": role,
        "role_type": _role_type(kind, role),
        "content": text,
        "metadata": {"langchain": extras} if extras else None,
        "token_count": counter.count(text),
    }


def _role_type(kind: str, role: str) -> str:
    """human/ai/system/tool/function (their *MessageChunk too); a `chat` message by its role, if it is one of ours."""
    for prefix, role_type in _ROLE_TYPES.items():
        if kind.lower().startswith(prefix) and not kind.lower().startswith("chat"):
            return role_type
    return role if role in RoleType.__members__.values() else RoleType.NOROLE.value


def _line(where: str, model: type[Line], **fields: Any) -> Line:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise FormatError(f"{where}: {describe(exc)}") from None


def _plain(value: Any) -> Any:
    """DynamoDB's values as JSON's: numbers as int or float, sets as lists, bytes as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return value
