"""Concurrent writers on one session, against a DynamoDB whose every call is atomic (moto's server behind a lock per
API call: DynamoDB's own guarantee): the writers race through the store's optimistic version check on the session
item, so the losers re-read and retry. Nothing may be lost, duplicated or reordered, and no update of the session
item (its message count, its metadata) may be lost either.

- threads on one store (the service level);
- processes, each calling the write function's `lambda_handler` with API Gateway events, as concurrent Lambda
  execution environments do (tests/integration/test_concurrent_serve.py does the same over HTTP).
"""

import json
import multiprocessing
import os
import queue
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
from chat_memory.domain.models import CountedMessage, NewMessage, RoleType
from chat_memory_dev.localdb.dynamodb import EmbeddedDynamoDB, create_table_from_template
from tests.http_events import FakeContext, http_event
from tests.integration.concurrency import assert_nothing_lost, content, written_by

TABLE = "chat-memory-concurrency"
WRITERS = 8
REQUESTS_PER_WRITER = 6
MESSAGES_PER_REQUEST = 3
HANDLER_REQUESTS_PER_WRITER = 5
# moto behind one lock commits ~20x slower than DynamoDB, so losers wait longer: give them the time a real table
# would not need (correctness, not speed, is under test here).
RETRY_BUDGET_S = 60
PROCESS_TIMEOUT_S = 300  # a bound for a stuck writer process, not a speed requirement


@pytest.fixture(scope="module")
def db() -> Iterator[tuple[EmbeddedDynamoDB, Any]]:
    with EmbeddedDynamoDB() as embedded:
        client = boto3.client("dynamodb", endpoint_url=embedded.endpoint_url, region_name="us-east-1")
        create_table_from_template(client, TABLE)
        yield embedded, client


@pytest.fixture(scope="module")
def store(db: tuple[EmbeddedDynamoDB, Any]) -> DynamoMemoryStore:
    return DynamoMemoryStore(TABLE, client=db[1], retry_budget_seconds=RETRY_BUDGET_S)


def _request(writer: int, request: int) -> list[CountedMessage]:
    return [
        CountedMessage(NewMessage(role=f"w{writer}", role_type=RoleType.USER, content=content(writer, request, i)), 1)
        for i in range(MESSAGES_PER_REQUEST)
    ]


def _assert_session_kept(store: DynamoMemoryStore, session: str, requests: int) -> dict[str, str]:
    """The messages, and the session item's count and metadata (every writer merged its latest request).

    Returns each message's created_at by content."""
    total = WRITERS * requests * MESSAGES_PER_REQUEST
    window = store.read_window("default", session, total + 10)
    assert window is not None
    contents = [m.content for m in window.messages]
    assert_nothing_lost(contents, [m.ts for m in window.messages], WRITERS, requests, MESSAGES_PER_REQUEST)
    page = store.message_page("default", session, 0, None, total + 10)
    assert page is not None and page.total_count == total, "the session counts every message once"
    assert window.session.metadata == {f"writer_{w}": requests - 1 for w in range(WRITERS)}, "no update lost"
    return {m.content: m.created_at for m in window.messages}


def test_eight_writers_on_one_session_lose_nothing_and_keep_their_order(store: DynamoMemoryStore) -> None:
    def write(writer: int) -> None:
        for request in range(REQUESTS_PER_WRITER):
            store.append_messages("default", "hot", _request(writer, request), {f"writer_{writer}": request}, None)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))

    _assert_session_kept(store, "hot", REQUESTS_PER_WRITER)


# --- the write function's handler in eight processes ---------------------------------------------------------


class _Context(FakeContext):
    """A Lambda context with the function's longest timeout: moto is slow, and speed is not under test."""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _handler_writer(
    writer: int, endpoint: str, session: str, start: Any, results: "multiprocessing.Queue[Any]"
) -> None:
    """One execution environment: the handler imported cold, then this writer's requests one after the other."""
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "TABLE_NAME": TABLE,
                "WRITE_RETRY_BUDGET_SECONDS": str(RETRY_BUDGET_S),
            }
        )
        from chat_memory.adapters.dynamodb.client import dynamodb_client
        from chat_memory.handlers import add_memory

        calls = {"transactions": 0, "lost": 0, "sent": 0}

        def sent(**_: Any) -> None:
            calls["sent"] += 1

        def count(parsed: dict[str, Any], **_: Any) -> None:
            calls["transactions"] += 1
            if parsed.get("Error", {}).get("Code") == "TransactionCanceledException":
                calls["lost"] += 1

        dynamodb_client().meta.events.register("after-call.dynamodb.TransactWriteItems", count)
        dynamodb_client().meta.events.register("before-send.dynamodb.TransactWriteItems", sent)
        start.wait(PROCESS_TIMEOUT_S)  # every writer imported and ready: now they race
        answers = []
        for request in range(HANDLER_REQUESTS_PER_WRITER):
            body = {
                "messages": [
                    {"role": f"w{writer}", "role_type": "user", "content": content(writer, request, i)}
                    for i in range(MESSAGES_PER_REQUEST)
                ],
                "metadata": {f"writer_{writer}": request},
            }
            event = http_event("POST", f"/api/v2/sessions/{session}/memory", body)
            result = add_memory.lambda_handler(event, _Context())
            answers.append((result["statusCode"], json.loads(result["body"])))
        results.put((writer, answers, calls))
    except BaseException:
        results.put((writer, traceback.format_exc(), {}))


def test_eight_processes_running_the_write_handler_lose_nothing_and_keep_their_order(
    db: tuple[EmbeddedDynamoDB, Any], store: DynamoMemoryStore
) -> None:
    embedded, _ = db
    session = f"hot-{uuid.uuid4().hex[:8]}"
    spawn = multiprocessing.get_context("spawn")  # never fork a process with threads (moto's server runs in one)
    start = spawn.Barrier(WRITERS)
    results: multiprocessing.Queue[Any] = spawn.Queue()
    processes = [
        spawn.Process(target=_handler_writer, args=(w, embedded.endpoint_url, session, start, results))
        for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    try:
        collected = [results.get(timeout=PROCESS_TIMEOUT_S) for _ in range(WRITERS)]
    except queue.Empty:
        pytest.fail("a writer process never answered")
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()

    transactions = lost = sent = 0
    answered: dict[str, str] = {}  # content -> the created_at its write answered
    for writer, answers, calls in sorted(collected, key=lambda c: c[0]):
        assert not isinstance(answers, str), f"writer {writer} failed:\n{answers}"
        assert [status for status, _ in answers] == [201] * HANDLER_REQUESTS_PER_WRITER, answers
        for request, (_, body) in enumerate(answers):
            for i, added in enumerate(body["messages"]):
                answered[content(writer, request, i)] = added["created_at"]
        transactions += calls["transactions"]
        lost += calls["lost"]
        sent += calls["sent"]
    print(f"\n{WRITERS} handler processes: {transactions} transactions ({sent} sent), {lost} lost a race, retried")
    assert _assert_session_kept(store, session, HANDLER_REQUESTS_PER_WRITER) == answered, "as the writes answered"

    assert lost > 0, "the writers never raced: this test proved nothing"
    assert transactions == WRITERS * HANDLER_REQUESTS_PER_WRITER + lost


# --- a commit whose answer is lost ---------------------------------------------------------------------------


@pytest.mark.parametrize("caller_uuids", [False, True], ids=["server uuids", "caller uuids"])
@pytest.mark.parametrize("network", ["answers again", "stays down"])
def test_a_transaction_committed_but_answered_by_a_timeout_is_not_written_twice(
    db: tuple[EmbeddedDynamoDB, Any], monkeypatch: pytest.MonkeyPatch, caller_uuids: bool, network: str
) -> None:
    """The first TransactWriteItems reaches DynamoDB and commits, but its answer is lost (a read timeout). botocore
    sends it again: either the copy arrives and the session's version check refuses it ("answers again"), or every
    copy times out too ("stays down"). Either way the store must recognise its own commit and answer it, not
    append the messages a second time nor answer 503 for a request that is in."""
    embedded, _ = db
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", embedded.endpoint_url)
    dynamodb_client.cache_clear()
    client = dynamodb_client()  # the functions' client: its retries, its timeouts
    armed: list[bool] = []
    committed: list[int] = []
    lost_answers: list[str] = []

    def commit_then_time_out(request: AWSPreparedRequest, **_: Any) -> None:
        if armed:
            armed.clear()
            committed.append(URLLib3Session().send(request).status_code)
            lost_answers.append("first")
            raise ReadTimeoutError(endpoint_url=request.url)
        if network == "stays down" and len(lost_answers) % 5:
            lost_answers.append("copy")  # botocore's resends of the same attempt time out as well
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.dynamodb.TransactWriteItems", commit_then_time_out)
    store = DynamoMemoryStore(TABLE, client=client)
    session = f"answer-lost-{network.replace(' ', '-')}-{caller_uuids}"
    added = []
    try:
        for request in range(2):  # the first creates the session, the second appends to it
            armed.append(True)
            messages = _request(0, request)
            if caller_uuids:
                messages = [CountedMessage(replace(m.message, uuid=str(uuid.uuid4())), m.token_count) for m in messages]
            added += store.append_messages("default", session, messages, None, None)
    finally:
        dynamodb_client.cache_clear()
    assert committed == [200, 200]  # each did commit the first time
    window = store.read_window("default", session, 20)
    assert window is not None
    assert [m.content for m in window.messages] == written_by(0, 2, MESSAGES_PER_REQUEST)
    assert [(m.uuid, m.ts) for m in window.messages] == [(a.uuid, a.ts) for a in added], "as the writes answered"
    assert not any(a.updated for a in added), "the answer of the attempt that committed, not of a rewrite"
    page = store.message_page("default", session, 0, None, 20)
    assert page is not None and page.total_count == 2 * MESSAGES_PER_REQUEST
