"""What the console shows in the browser tests and the screenshots, written through the public API (httpx): the seed
example (the README's Example, from Zep's documentation) in a session of the user Jane, and a long conversation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

import httpx

from chat_memory_dev.gen.events import HISTORY

# The README's Example (seed/zep-memory-docs.txt, as the sample events hold it), with the role types the README's
# version gives: the console's "seed example".
SEED_HISTORY: Final[list[dict[str, Any]]] = [
    {**message, "role_type": role_type}
    for message, role_type in zip(HISTORY, ("user", "assistant", "user"), strict=True)
]
SEED_USER: Final = {"user_id": "jane", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com"}
LONG_SESSION_MESSAGES: Final = 150
_TOPICS: Final = ("Kindred", "Parable of the Sower", "the Xenogenesis trilogy", "Bloodchild", "Fledgling")
ADD_CHUNK: Final = 50  # messages per add_memory (the API takes up to 99)


def long_message(number: int) -> dict[str, Any]:
    """Message `number` (1-based) of the long conversation: Jane asks on odd numbers, HistoryBot answers on even."""
    topic = _TOPICS[(number - 1) // 2 % len(_TOPICS)]
    if number % 2:
        return {"role": "Jane", "role_type": "user", "content": f"Message {number}: tell me more about {topic}."}
    return {
        "role": "HistoryBot",
        "role_type": "assistant",
        "content": f"Message {number}: {topic} is one of the works readers ask about most; here is one more detail.",
    }


def api_client(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base_url}/api/v2",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=60,
        trust_env=False,  # loopback: never through a proxy
    )


def add_messages(client: httpx.Client, session_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """add_memory in chunks; the messages the API acknowledged (uuid, created_at, token_count), in order."""
    added: list[dict[str, Any]] = []
    for start in range(0, len(messages), ADD_CHUNK):
        answer = client.post(f"/sessions/{session_id}/memory", json={"messages": messages[start : start + ADD_CHUNK]})
        answer.raise_for_status()
        added.extend(answer.json()["messages"])
    return added


def create_session(client: httpx.Client, session_id: str, user_id: str | None = None) -> None:
    body: dict[str, Any] = {"session_id": session_id}
    if user_id is not None:
        body["user_id"] = user_id
    client.post("/sessions", json=body).raise_for_status()


@dataclass(frozen=True)
class Demo:
    seed_session: str
    seed_tokens: list[int]  # the token_count of each seed message, as the API counted them
    long_session: str
    user_id: str


def write_demo(client: httpx.Client, suffix: str | None = None) -> Demo:
    """The user Jane with the seed example's session, then a long conversation (the newest session)."""
    suffix = suffix or uuid.uuid4().hex[:8]
    user_id = f"{SEED_USER['user_id']}-{suffix}"
    client.post("/users", json={**SEED_USER, "user_id": user_id}).raise_for_status()
    seed_session = f"octavia-butler-{suffix}"
    create_session(client, seed_session, user_id)
    seed_tokens = [m["token_count"] for m in add_messages(client, seed_session, SEED_HISTORY)]
    long_session = f"long-conversation-{suffix}"
    create_session(client, long_session, user_id)
    add_messages(client, long_session, [long_message(n) for n in range(1, LONG_SESSION_MESSAGES + 1)])
    return Demo(seed_session, seed_tokens, long_session, user_id)
