"""Concurrent writers on one session through `chat-memory serve --workers 8`, over HTTP, as clients on AWS would be.

Eight writer threads POST add_memory requests to ONE session at once; the server runs each request in one of its
worker processes (one invocation per process, like Lambda's execution environments), so the requests race in
DynamoDB and the losers of the session's version check retry. Nothing may be lost, duplicated or reordered. And the
stream consumers keep working after the race's cancelled transactions: a DELETE is purged, a session summarised.
"""

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import httpx
import pytest

from tests.integration.concurrency import assert_nothing_lost, content
from tests.serve_process import children_of, serve_pid, serve_process, still_alive

WORKERS = 8
WRITERS = 8
REQUESTS_PER_WRITER = 5
MESSAGES_PER_REQUEST = 3
API_KEY = "cm_concurrent-serve-key-5b1e0c9d8a7f6e5d4c3b2a1f0e9d8c7b"
SERVING = re.compile(
    r"^chat-memory serving (http://127\.0\.0\.1:\d+) \(DynamoDB: embedded moto at (http://127\.0\.0\.1:\d+), "
    r".*handlers: (\d+) worker processes",
    re.M,
)
BACKGROUND_WAIT_S = 60.0  # a bound for the purger and the summariser, polled: not a speed requirement
LOST_RACE = "add_memory lost a race"  # the store's debug line for each retried conflict
# moto behind one lock commits far slower than DynamoDB, so a loser may wait long for its turn: give the writes
# the time a real table would not need (correctness, not speed, is under test), within the 30 s integration timeout.
RETRY_BUDGET_S = "20"
BUSY_RETRIES = 5  # a writer's attempts at one request that the server answers 503 (its retry budget ran out)


@dataclass
class Server:
    url: str
    printed: Any  # () -> str: everything the server printed so far
    pid: int
    dynamodb: str  # the embedded DynamoDB's endpoint
    table: str


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    table = f"concurrent-serve-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL_DYNAMODB", "CHAT_MEMORY_API_KEY")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "CHAT_MEMORY_API_KEY": API_KEY,
            "WRITE_RETRY_BUDGET_SECONDS": RETRY_BUDGET_S,
            "POWERTOOLS_LOG_LEVEL": "DEBUG",  # the workers log each lost race: proof that the writers raced
        }
    )
    args = ["--host", "127.0.0.1", "--port", "0", "--table", table, "--workers", str(WORKERS)]
    with serve_process(args, env, lambda printed: SERVING.search(printed) is not None) as printed:
        serving = SERVING.search(printed())
        assert serving is not None and int(serving.group(3)) == WORKERS
        pid = serve_pid(table)
        workers = children_of(pid)
        assert len(workers) >= WORKERS  # the workers (and multiprocessing's resource tracker)
        yield Server(serving.group(1), printed, pid, serving.group(2), table)
    assert still_alive([pid, *workers]) == [], "chat-memory serve left processes behind"


def _client(server: Server) -> httpx.Client:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60, trust_env=False)


def _post_until_stored(client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """A client's recovery from a 503 ("busy, retry shortly": the server's retry budget ran out, which a loaded
    machine can make happen): the same request again, under one Idempotency-Key (a 503 stores nothing, and a write
    that did land is answered again, not stored twice), after its Retry-After."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(BUSY_RETRIES):
        response = client.post(path, json=body, headers=key)
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def test_eight_writers_through_serve_lose_nothing_keep_their_order_and_the_consumers_go_on(server: Server) -> None:
    session = f"hot-{uuid.uuid4().hex[:8]}"
    start = threading.Barrier(WRITERS)
    answered: dict[str, str] = {}  # content -> the created_at its write answered
    with _client(server) as client:  # the authorizer's answer for the key is now cached in the server
        assert client.get("/api/v2/sessions", params={"limit": 1}).status_code == 200

    def write(writer: int) -> dict[str, str]:
        mine: dict[str, str] = {}
        with _client(server) as client:
            assert client.get("/healthz").status_code == 200  # connected before the race starts (and a worker warm)
            start.wait(timeout=60)
            for request in range(REQUESTS_PER_WRITER):
                body: dict[str, Any] = {
                    "messages": [
                        {"role": f"w{writer}", "role_type": "user", "content": content(writer, request, i)}
                        for i in range(MESSAGES_PER_REQUEST)
                    ],
                    # Each writer's latest request, merged into the session's metadata: a lost update shows.
                    "metadata": {f"writer_{writer}": request},
                }
                response = _post_until_stored(client, f"/api/v2/sessions/{session}/memory", body)
                assert response.status_code == 201, response.text
                created = [m["created_at"] for m in response.json()["messages"]]
                mine.update(zip([m["content"] for m in body["messages"]], created, strict=True))
        return mine

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for mine in pool.map(write, range(WRITERS)):
            answered.update(mine)

    total = WRITERS * REQUESTS_PER_WRITER * MESSAGES_PER_REQUEST
    with _client(server) as client:
        messages: list[dict[str, Any]] = []
        page = 1
        while True:
            response = client.get(f"/api/v2/sessions/{session}/messages", params={"limit": 50, "cursor": page})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["total_count"] == total, "the session counts every message once"
            messages.extend(body["messages"])
            if body["row_count"] < 50:
                break
            page += 1
        metadata = client.get(f"/api/v2/sessions/{session}").json()["metadata"]

    contents = [m["content"] for m in messages]
    stamps = [datetime.fromisoformat(m["created_at"]) for m in messages]
    assert_nothing_lost(contents, stamps, WRITERS, REQUESTS_PER_WRITER, MESSAGES_PER_REQUEST)
    assert {m["content"]: m["created_at"] for m in messages} == answered, "stored as the writes answered"
    assert metadata == {f"writer_{w}": REQUESTS_PER_WRITER - 1 for w in range(WRITERS)}, "no update lost"

    conflicts = server.printed().count(LOST_RACE)
    print(f"\n{WRITERS} writers x {REQUESTS_PER_WRITER} requests: {conflicts} lost races retried")
    assert conflicts > 0, "the writers never raced: this test proved nothing"
    _the_stream_consumers_still_work(server, session)


def _the_stream_consumers_still_work(server: Server, raced: str) -> None:
    """moto used to swap in a copy of the table (and of its stream) after a cancelled transaction: the consumers
    kept reading the old stream and never purged or summarised again."""
    with _client(server) as client:
        assert client.delete(f"/api/v2/sessions/{raced}/memory").status_code == 200
        fresh = f"after-{uuid.uuid4().hex[:8]}"
        lines = [{"role": "u", "role_type": "user", "content": f"line {i}"} for i in range(30)]
        assert client.post(f"/api/v2/sessions/{fresh}/memory", json={"messages": lines}).status_code == 201
        dynamodb = boto3.client("dynamodb", endpoint_url=server.dynamodb, region_name="us-east-1")
        deadline = time.monotonic() + BACKGROUND_WAIT_S
        purged = summarised = False
        while not (purged and summarised) and time.monotonic() < deadline:
            left = dynamodb.query(
                TableName=server.table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"T#default#S#{raced}"}},
                Select="COUNT",
            )["Count"]
            purged = left == 0
            summarised = client.get(f"/api/v2/sessions/{fresh}/memory").json()["summary"] is not None
            time.sleep(0.2)
    assert purged, "the purger deleted everything of the raced session after its DELETE"
    assert summarised, "the summariser summarised a session written after the race"
