"""DynamoDB's size limits hold on what is stored after merges, not only on each request (moto enforces none)."""

from typing import Any

import pytest

from chat_memory.adapters.dynamodb.sizes import MAX_ITEM_BYTES, MAX_TRANSACTION_BYTES, item_size
from tests.integration.conftest import Invoke, all_items

_CHUNK = 63_000  # under the 64,000-byte metadata limit of one request


def _patch(n: int) -> dict[str, Any]:
    return {"metadata": {f"k{n}": "x" * _CHUNK}}


def _largest_item(ddb: Any) -> int:
    return max(item_size(i) for i in all_items(ddb))


@pytest.mark.parametrize(
    ("create", "patch_path", "method"),
    [
        (("POST", "/api/v2/sessions", {"session_id": "s"}), "/api/v2/sessions/s", "PATCH"),
        (("POST", "/api/v2/users", {"user_id": "u"}), "/api/v2/users/u", "PATCH"),
        (("POST", "/api/v2/sessions/s/memory", {"messages": []}), "/api/v2/sessions/s/memory", "POST"),
    ],
)
def test_merged_metadata_stops_at_the_item_limit_with_a_413_that_says_the_room_left(
    api: Invoke, ddb: Any, create: tuple[str, str, dict[str, Any]], patch_path: str, method: str
) -> None:
    first = create[2] if create[2].get("messages") is None else {"metadata": {"k": 1}}
    assert api(create[0], create[1], first).status in (200, 201)
    statuses = [api(method, patch_path, _patch(n)).status for n in range(8)]
    assert statuses[:6] == [200 if method == "PATCH" else 201] * 6 and statuses[6:] == [413, 413]
    before = all_items(ddb)
    reply = api(method, patch_path, _patch(99))
    assert reply.status == 413 and "room left" in reply.body["message"]
    assert all_items(ddb) == before  # nothing stored
    assert _largest_item(ddb) <= MAX_ITEM_BYTES
    # A small change still fits, and the session still takes messages.
    assert api(method, patch_path, {"metadata": {"small": 1}}).status in (200, 201)


def test_message_metadata_patches_stop_at_the_item_limit(api: Invoke, ddb: Any) -> None:
    message = {"role": "user", "role_type": "user", "content": "c" * 99_000}
    assert api("POST", "/api/v2/sessions/m/memory", {"messages": [message]}).status == 201
    uuid = api("GET", "/api/v2/sessions/m/messages").body["messages"][0]["uuid"]
    path = f"/api/v2/sessions/m/messages/{uuid}"
    statuses = [api("PATCH", path, _patch(n)).status for n in range(6)]
    assert statuses == [200] * 4 + [413, 413]
    assert _largest_item(ddb) <= MAX_ITEM_BYTES


def test_the_transaction_limit_counts_every_attribute_of_every_item(api: Invoke, ddb: Any) -> None:
    """35 messages of 99 KB content and 60 KB metadata: 5.6 MB stored, over a transaction's 4 MB."""
    message = {"role": "user", "role_type": "user", "content": "c" * 99_000, "metadata": {"m": "x" * 60_000}}
    reply = api("POST", "/api/v2/sessions/t/memory", {"messages": [message] * 35})
    assert reply.status == 413 and "transaction" in reply.body["message"]
    assert all_items(ddb) == []
    fits = (MAX_TRANSACTION_BYTES - 2_000) // _stored_estimate(message)
    assert api("POST", "/api/v2/sessions/t/memory", {"messages": [message] * fits}).status == 201


def _stored_estimate(message: dict[str, Any]) -> int:
    """At least one message item's stored size (content, metadata, and generously the keys and other attributes)."""
    return len(message["content"]) + len(message["metadata"]["m"]) + 200
