"""Concurrent writers on one session: real threads against a DynamoDB whose every call is atomic.

moto's server behind a lock per API call (DynamoDB's own guarantee); the writers race through the store's
optimistic version check, so the losers re-read and retry.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
from chat_memory.domain.models import NewMessage, RoleType
from chat_memory.domain.ports import CountedMessage
from chat_memory_dev.local_dynamodb import EmbeddedDynamoDB, create_table_from_template

TABLE = "chat-memory-concurrency"
WRITERS = 8
REQUESTS_PER_WRITER = 6
MESSAGES_PER_REQUEST = 3


@pytest.fixture(scope="module")
def store() -> Iterator[DynamoMemoryStore]:
    with EmbeddedDynamoDB() as db:
        client = boto3.client("dynamodb", endpoint_url=db.endpoint_url, region_name="us-east-1")
        create_table_from_template(client, TABLE)
        # moto behind one lock commits ~20x slower than DynamoDB, so losers wait longer: give them the time a
        # real table would not need (correctness, not speed, is under test here).
        yield DynamoMemoryStore(TABLE, client=client, retry_budget_seconds=60)


def _request(writer: int, request: int) -> list[CountedMessage]:
    return [
        CountedMessage(NewMessage(role=f"w{writer}", role_type=RoleType.USER, content=f"{writer}:{request}:{i}"), 1)
        for i in range(MESSAGES_PER_REQUEST)
    ]


def test_eight_writers_on_one_session_lose_nothing_and_keep_their_order(store: DynamoMemoryStore) -> None:
    def write(writer: int) -> None:
        for request in range(REQUESTS_PER_WRITER):
            store.append_messages("default", "hot", _request(writer, request), None, None)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))

    total = WRITERS * REQUESTS_PER_WRITER * MESSAGES_PER_REQUEST
    window = store.read_window("default", "hot", total + 10)
    assert window is not None
    contents = [m.content for m in window.messages]
    assert len(contents) == total, "every message present"
    assert len(set(contents)) == total, "and exactly once"
    stamps = [m.ts for m in window.messages]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == total, "created_at strictly increases"
    for writer in range(WRITERS):
        own = [c for c in contents if c.startswith(f"{writer}:")]
        expected = [f"{writer}:{r}:{i}" for r in range(REQUESTS_PER_WRITER) for i in range(MESSAGES_PER_REQUEST)]
        assert own == expected, f"writer {writer}'s order is kept"
    for start in range(0, total, MESSAGES_PER_REQUEST):
        batch = contents[start : start + MESSAGES_PER_REQUEST]
        assert len({c.rsplit(":", 1)[0] for c in batch}) == 1, "one request's messages stay together"
