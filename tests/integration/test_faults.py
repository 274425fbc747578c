"""Faults injected under botocore, through the HTTP handlers.

DynamoDB errors are answered in place of moto's response at `before-send`, so botocore's own retry handler sees
them as it would see DynamoDB's. A fake clock stands in for time.monotonic/time.sleep: pauses are recorded, not
waited, and the invocation's deadline is measured in that clock. A "killed" function is a BaseException raised
between two DynamoDB calls (nothing in the code may catch it, as nothing runs after a Lambda is killed).
"""

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError
from moto.core.models import botocore_stubber

from chat_memory.adapters.dynamodb import keys, users
from chat_memory.adapters.dynamodb.client import ATTEMPT_SECONDS, MAX_ATTEMPTS, dynamodb_client
from tests import http_events
from tests.integration.conftest import TABLE, Invoke, all_items, run_purger

# -- injection machinery ------------------------------------------------------------------------------


class _Body(BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def _response(status: int, body: dict[str, Any]) -> AWSResponse:
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["x-amzn-RequestId"] = "injected"
    return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", status, headers, _Body(json.dumps(body).encode()))


def dynamo_error(code: str, status: int = 400, **fields: Any) -> AWSResponse:
    return _response(status, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **fields})


def cancelled(*reasons: str) -> AWSResponse:
    return dynamo_error(
        "TransactionCanceledException",
        Message=f"Transaction cancelled, please refer cancellation reasons for specific reasons [{', '.join(reasons)}]",
        CancellationReasons=[{"Code": r, "Message": "injected"} for r in reasons],
    )


Fault = Callable[[AWSPreparedRequest], AWSResponse]


def always(response: Callable[[], AWSResponse]) -> Fault:
    return lambda _: response()


@dataclass
class Faults:
    """Stands in front of moto's stubber on the handlers' client: counts every attempt per operation and answers
    the planned faults instead of moto (so a fault has no side effect, as a throttled request has none)."""

    attempts: Counter[str] = field(default_factory=Counter)
    _plans: dict[str, list[tuple[Fault, int | None]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # some calls are made at once, from threads

    def add(self, operation: str, fault: Fault, times: int | None = None) -> None:
        """Answer the next `times` attempts of `operation` with `fault` (None: every attempt)."""
        self._plans.setdefault(operation, []).append((fault, times))

    def clear(self) -> None:
        self._plans.clear()

    def _take(self, operation: str) -> Fault | None:
        plans = self._plans.get(operation, [])
        if not plans:
            return None
        fault, times = plans[0]
        if times is not None:
            if times <= 1:
                plans.pop(0)
            else:
                plans[0] = (fault, times - 1)
        return fault

    def __call__(self, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.attempts[operation] += 1
            fault = self._take(operation)
        if fault is not None:
            return fault(request)
        return moto(event_name, request, **kwargs)


def moto(event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
    answer: AWSResponse | None = botocore_stubber(event_name=event_name, request=request, **kwargs)
    return answer


@dataclass
class FakeClock:
    """time.monotonic and time.sleep: a sleep moves the clock on at once and is recorded."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


@pytest.fixture
def faults(ddb: Any, clock: FakeClock) -> Faults:
    injector = Faults()
    events = dynamodb_client().meta.events
    # (The stubs type every handler as returning None; before-send handlers may return the response.)
    events.unregister("before-send", botocore_stubber)  # type: ignore[arg-type]
    events.register("before-send", injector)  # type: ignore[arg-type]
    return injector


def remaining_ms(monkeypatch: pytest.MonkeyPatch, millis: int) -> None:
    """What the Lambda context says is left of the invocation, for the requests that follow."""
    monkeypatch.setattr(http_events.FakeContext, "get_remaining_time_in_millis", lambda self: millis)


def messages(*uuids_and_contents: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"uuid": u, "role": "user", "role_type": "user", "content": c} for u, c in uuids_and_contents]


M1, M2, M3, M4 = (f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5))


def stored_uuids(api: Invoke, session_id: str) -> list[str]:
    reply = api("GET", f"/api/v2/sessions/{session_id}/messages", query="limit=1000")
    assert reply.status == 200, reply.body
    return [m["uuid"] for m in reply.body["messages"]]


def assert_unavailable(reply: Any) -> None:
    assert reply.status == 503, reply.body
    assert int(reply.headers["Retry-After"]) >= 1
    assert isinstance(reply.body["message"], str) and reply.body["message"]


# -- 1. transient errors, then success --------------------------------------------------------------------

TRANSIENT = {
    "ThrottlingException": lambda: dynamo_error("ThrottlingException"),
    "ProvisionedThroughputExceededException": lambda: dynamo_error("ProvisionedThroughputExceededException"),
    "InternalServerError": lambda: dynamo_error("InternalServerError", status=500),
    "ServiceUnavailable 503": lambda: dynamo_error("ServiceUnavailable", status=503),
}


@pytest.mark.parametrize("error", list(TRANSIENT))
def test_transient_errors_are_retried_with_jittered_backoff_and_the_request_is_stored_once(
    api: Invoke, faults: Faults, clock: FakeClock, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Room for the three longest pauses the jitter may draw after throttling (up to 1 + 2 + 4 s) and the attempt
    # after them: with the function's 10 s, about one draw in fifty left no time for the fourth attempt (a 503,
    # rightly; test_persistent_throttling_answers_503_before_the_functions_deadline covers that case).
    remaining_ms(monkeypatch, 30_000)
    faults.add("TransactWriteItems", always(TRANSIENT[error]), times=3)
    reply = api("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M1, "a"), (M2, "b"))})
    assert reply.status == 201, reply.body
    assert faults.attempts["TransactWriteItems"] == 4  # three faults, then the attempt that went through
    assert stored_uuids(api, "s1") == [M1, M2]
    # botocore's pauses: rand(0, 1) * scale * 2**n, the scale 1 s after throttling and 25 ms after a server error.
    scale = 0.025 if error.startswith(("InternalServerError", "ServiceUnavailable")) else 1.0
    assert len(clock.sleeps) == 3
    assert all(0 <= pause <= scale * 2**n for n, pause in enumerate(clock.sleeps))
    assert len(set(clock.sleeps)) == 3, "jitter: the pauses are drawn, not fixed"


def test_a_connection_error_is_retried_then_answered_503(api: Invoke, faults: Faults) -> None:
    def unreachable(request: AWSPreparedRequest) -> AWSResponse:
        raise EndpointConnectionError(endpoint_url=request.url)

    faults.add("GetItem", unreachable)
    reply = api("GET", "/api/v2/sessions/s1")
    assert_unavailable(reply)
    assert faults.attempts["GetItem"] == MAX_ATTEMPTS


# -- 2. retries exhausted: 503, Retry-After, nothing stored ----------------------------------------------


def stored(ddb: Any) -> list[dict[str, Any]]:
    """What the table holds but change markers: a write that failed after its marker leaves it (no content; it
    expires), and it only makes searches re-read the messages it names."""
    return [i for i in all_items(ddb) if not i["SK"]["S"].startswith(keys.CHANGED_SK_PREFIX)]


@pytest.fixture
def seeded(api: Invoke) -> Invoke:
    """A user with a session of two messages."""
    assert api("POST", "/api/v2/users", {"user_id": "u1", "email": "u1@example.com"}).status == 201
    assert api("POST", "/api/v2/sessions", {"session_id": "s1", "user_id": "u1"}).status == 201
    assert api("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M1, "a"), (M2, "b"))}).status == 201
    return api


EXHAUSTED = {
    "add memory, TransactWriteItems": ("TransactWriteItems", "POST", "/api/v2/sessions/s1/memory"),
    "add memory to a new session, TransactWriteItems": ("TransactWriteItems", "POST", "/api/v2/sessions/s9/memory"),
    "add memory, GetItem of the session": ("GetItem", "POST", "/api/v2/sessions/s1/memory"),
    "read session, GetItem": ("GetItem", "GET", "/api/v2/sessions/s1"),
    "read memory, Query": ("Query", "GET", "/api/v2/sessions/s1/memory"),
    "list messages, Query": ("Query", "GET", "/api/v2/sessions/s1/messages"),
    "list sessions, Query": ("Query", "GET", "/api/v2/sessions"),
    "delete memory, the tombstone's PutItem": ("PutItem", "DELETE", "/api/v2/sessions/s1/memory"),
    "delete user, TransactWriteItems": ("TransactWriteItems", "DELETE", "/api/v2/users/u1"),
    "update user, PutItem": ("PutItem", "PATCH", "/api/v2/users/u1"),
    "update message metadata, UpdateItem": ("UpdateItem", "PATCH", f"/api/v2/sessions/s1/messages/{M1}"),
    # A write that changes stored messages first puts a change marker (search reads its writes): it stops there.
    "add memory, the change marker's PutItem": ("PutItem", "POST", "/api/v2/sessions/s1/memory"),
    "update message metadata, the change marker's PutItem": ("PutItem", "PATCH", f"/api/v2/sessions/s1/messages/{M1}"),
    "search, Query": ("Query", "POST", "/api/v2/sessions/s1/search"),
}
# Calls of that operation a request makes at once (search's first step: the window, the rest of the newest messages
# and the change markers), each retried on its own.
AT_ONCE = {"search, Query": 3}
BODIES = {
    "POST": {"messages": messages((M2, "b, edited"), (M3, "c"))},
    "PATCH": {"metadata": {"k": "v"}},
    "/api/v2/sessions/s1/search": {"text": "edited"},
}


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
@pytest.mark.parametrize("case", list(EXHAUSTED))
def test_persistent_throttling_answers_503_with_retry_after_and_stores_nothing(
    seeded: Invoke, faults: Faults, ddb: Any, case: str, code: str
) -> None:
    operation, method, path = EXHAUSTED[case]
    before = stored(ddb)
    faults.add(operation, always(lambda: dynamo_error(code)))
    reply = seeded(method, path, BODIES.get(path, BODIES.get(method)))
    assert_unavailable(reply)
    assert 2 <= faults.attempts[operation] <= MAX_ATTEMPTS * AT_ONCE.get(case, 1), "retried, within the deadline"
    faults.clear()
    assert stored(ddb) == before


# -- 3. cancelled transactions ---------------------------------------------------------------------------


def test_a_transaction_cancelled_by_throttling_is_retried_then_stored_once(
    seeded: Invoke, faults: Faults, clock: FakeClock
) -> None:
    faults.add("TransactWriteItems", always(lambda: cancelled("None", "ThrottlingError", "None")), times=2)
    reply = seeded("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M3, "c"), (M4, "d"))})
    assert reply.status == 201, reply.body
    assert faults.attempts["TransactWriteItems"] == 3
    assert stored_uuids(seeded, "s1") == [M1, M2, M3, M4]
    assert len(clock.sleeps) == 2  # the store's own backoff (botocore does not retry cancelled transactions)


@pytest.mark.parametrize(
    "reasons", [("ThrottlingError",), ("None", "ProvisionedThroughputExceeded"), ("RequestLimitExceeded",)]
)
def test_a_transaction_cancelled_by_throttling_every_time_answers_503_and_stores_nothing(
    seeded: Invoke, faults: Faults, ddb: Any, clock: FakeClock, reasons: tuple[str, ...]
) -> None:
    before = stored(ddb)
    faults.add("TransactWriteItems", always(lambda: cancelled(*reasons)))
    reply = seeded("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M2, "edited"), (M3, "c"))})
    assert_unavailable(reply)
    assert faults.attempts["TransactWriteItems"] > 1
    faults.clear()
    assert stored(ddb) == before


@pytest.mark.parametrize(
    "reasons",
    [("ConditionalCheckFailed", "None"), ("TransactionConflict", "None"), ("None", "TransactionConflict")],
)
def test_a_transaction_that_lost_a_race_is_retried_from_a_fresh_read(
    seeded: Invoke, faults: Faults, reasons: tuple[str, ...]
) -> None:
    faults.add("TransactWriteItems", always(lambda: cancelled(*reasons)), times=1)
    reply = seeded("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M2, "edited"), (M3, "c"))})
    assert reply.status == 201, reply.body
    assert faults.attempts["TransactWriteItems"] == 2
    assert faults.attempts["GetItem"] == 2, "the session was read again"
    assert stored_uuids(seeded, "s1") == [M1, M2, M3]
    edited = seeded("GET", f"/api/v2/sessions/s1/messages/{M2}")
    assert edited.body["content"] == "edited"


def test_a_delete_user_transaction_cancelled_by_throttling_is_retried(seeded: Invoke, faults: Faults, ddb: Any) -> None:
    faults.add("TransactWriteItems", always(lambda: cancelled("None", "ThrottlingError")), times=1)
    assert seeded("DELETE", "/api/v2/users/u1").status == 200
    assert seeded("GET", "/api/v2/sessions/s1").status == 404
    assert seeded("GET", "/api/v2/users/u1").status == 404


def test_a_transaction_cancelled_for_another_reason_is_not_retried_and_stores_nothing(
    seeded: Invoke, faults: Faults, ddb: Any
) -> None:
    """ItemCollectionSizeLimitExceeded (the session's 10 GB) will not go away by retrying: a 413 that says so."""
    before = stored(ddb)
    faults.add("TransactWriteItems", always(lambda: cancelled("None", "ItemCollectionSizeLimitExceeded")))
    reply = seeded("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M3, "c"))})
    assert reply.status == 413, reply.body
    assert "10 GB" in reply.body["message"]
    assert faults.attempts["TransactWriteItems"] == 1
    faults.clear()
    assert stored(ddb) == before


def test_a_session_at_dynamodbs_10_gb_limit_is_a_413_for_single_writes_too(
    seeded: Invoke, faults: Faults, ddb: Any
) -> None:
    before = stored(ddb)
    faults.add("UpdateItem", always(lambda: dynamo_error("ItemCollectionSizeLimitExceededException")))
    reply = seeded("PATCH", f"/api/v2/sessions/s1/messages/{M1}", {"metadata": {"k": "v"}})
    assert reply.status == 413, reply.body
    assert "10 GB" in reply.body["message"]
    faults.clear()
    assert stored(ddb) == before


# -- 4. unprocessed batch items --------------------------------------------------------------------------


def _body(request: AWSPreparedRequest) -> Any:
    assert isinstance(request.body, bytes | str)
    return json.loads(request.body)


def _half_processed(request: AWSPreparedRequest) -> AWSResponse:
    """A BatchWriteItem of which DynamoDB does the first half and hands back the rest as UnprocessedItems."""
    body = _body(request)
    writes = body["RequestItems"][TABLE]
    done, left = writes[: len(writes) // 2], writes[len(writes) // 2 :]
    if done:
        partial = AWSPreparedRequest(
            method=request.method,
            url=request.url,
            headers=request.headers,
            body=json.dumps({**body, "RequestItems": {TABLE: done}}).encode(),
            stream_output=False,
        )
        processed = moto("before-send.dynamodb.BatchWriteItem", partial)
        assert processed is not None and processed.status_code == 200
    return _response(200, {"UnprocessedItems": {TABLE: left}})


def _nothing_processed(request: AWSPreparedRequest) -> AWSResponse:
    body = _body(request)
    return _response(200, {"UnprocessedItems": body["RequestItems"]})


@pytest.fixture
def deleted_session(seeded: Invoke) -> Invoke:
    """s1 with 30 messages (two batches to purge), deleted: its tombstone waits for the purger."""
    more = messages(*((f"00000000-0000-4000-8000-0000000001{n:02d}", f"m{n}") for n in range(28)))
    assert seeded("POST", "/api/v2/sessions/s1/memory", {"messages": more}).status == 201
    assert seeded("DELETE", "/api/v2/sessions/s1/memory").status == 200
    return seeded


def _session_items(ddb: Any) -> list[dict[str, Any]]:
    return [i for i in all_items(ddb) if i["PK"]["S"].endswith("#S#s1")]


@pytest.mark.parametrize("fault", [_half_processed, _nothing_processed])
def test_unprocessed_items_of_the_purgers_batch_deletes_are_retried_until_done(
    deleted_session: Invoke, faults: Faults, ddb: Any, fault: Fault
) -> None:
    assert len(_session_items(ddb)) == 31  # 30 messages and the tombstone
    faults.add("BatchWriteItem", fault, times=3)
    result = run_purger(ddb)
    assert result["batchItemFailures"] == []
    assert faults.attempts["BatchWriteItem"] > 2  # two batches, and the unprocessed items sent again
    assert _session_items(ddb) == []


def test_items_left_unprocessed_for_good_fail_the_stream_record_and_nothing_is_dropped(
    deleted_session: Invoke, faults: Faults, ddb: Any
) -> None:
    faults.add("BatchWriteItem", _nothing_processed)
    result = run_purger(ddb)
    assert len(result["batchItemFailures"]) == 1, "the record fails: Lambda hands it over again"
    assert len(_session_items(ddb)) == 31, "the tombstone stays for the retry"
    faults.clear()
    assert run_purger(ddb)["batchItemFailures"] == []
    assert _session_items(ddb) == []


# -- 5. a function killed between any two calls ----------------------------------------------------------


class Killed(BaseException):
    """The function's process dying: no `except Exception` runs, no finally-block writes anything durable."""


SESSION_IDS = ("s1", "sa", "sb", "s-other", "s-new")
USER_IDS = ("u1", "u2")


def _normalised(value: Any) -> Any:
    """Without what differs between two runs of one request from one state: clock readings and generated ids
    (sessions' and users' uuids; every message here carries its caller's uuid)."""
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    if isinstance(value, dict):
        drop = {"created_at", "updated_at"}
        if "role" not in value and ("session_id" in value or "user_id" in value):
            drop.add("uuid")
        return {k: _normalised(v) for k, v in value.items() if k not in drop}
    return value


def visible(api: Invoke) -> dict[str, Any]:
    """Everything a client can read of the seeded sessions and users."""
    reads = [("GET", "/api/v2/sessions", "limit=1000"), ("GET", "/api/v2/users", "limit=1000")]
    for sid in SESSION_IDS:
        reads += [
            ("GET", f"/api/v2/sessions/{sid}", ""),
            ("GET", f"/api/v2/sessions/{sid}/memory", "lastn=1000"),
            ("GET", f"/api/v2/sessions/{sid}/messages", "limit=1000"),
        ]
    for uid in USER_IDS:
        reads += [("GET", f"/api/v2/users/{uid}", ""), ("GET", f"/api/v2/users/{uid}/sessions", "")]
    state: dict[str, Any] = {}
    for method, path, query in reads:
        reply = api(method, path, query=query)
        state[f"{path}?{query}"] = (reply.status, _normalised(reply.body) if reply.status == 200 else None)
    return state


def seed_world(api: Invoke) -> None:
    """u1 with sessions s1 (two messages), sa and sb; s-other without a user."""
    assert api("POST", "/api/v2/users", {"user_id": "u1", "metadata": {"tier": "gold"}}).status == 201
    for sid in ("s1", "sa", "sb"):
        assert api("POST", "/api/v2/sessions", {"session_id": sid, "user_id": "u1", "metadata": {"n": 1}}).status == 201
    assert api("POST", "/api/v2/sessions", {"session_id": "s-other"}).status == 201
    assert api("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M1, "a"), (M2, "b"))}).status == 201
    assert api("POST", "/api/v2/sessions/sa/memory", {"messages": messages((M3, "x"))}).status == 201


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None
    calls: int  # DynamoDB calls the request makes from the seeded state (checked, so the kill points are all)


WRITE_ROUTES = {
    "add memory to a new session": Route(
        "POST", "/api/v2/sessions/s-new/memory", {"messages": messages((M4, "d")), "metadata": {"m": 1}}, 3
    ),
    "add memory, caller uuids updated in place": Route(
        "POST", "/api/v2/sessions/s1/memory", {"messages": messages((M1, "a, edited"), (M4, "d"))}, 5
    ),
    "create session": Route("POST", "/api/v2/sessions", {"session_id": "s-new", "user_id": "u1"}, 3),
    "update session": Route("PATCH", "/api/v2/sessions/s1", {"metadata": {"n": 2, "more": True}}, 2),
    "update message metadata": Route("PATCH", f"/api/v2/sessions/s1/messages/{M2}", {"metadata": {"x": 1}}, 5),
    "create user": Route("POST", "/api/v2/users", {"user_id": "u2", "email": "u2@example.com"}, 1),
    "update user": Route("PATCH", "/api/v2/users/u1", {"metadata": {"tier": "platinum"}, "first_name": "U"}, 2),
    "delete memory": Route("DELETE", "/api/v2/sessions/s1/memory", None, 2),
    "delete user with several sessions": Route("DELETE", "/api/v2/users/u1", None, 4),
}
KILL_POINTS = [(name, k) for name, route in WRITE_ROUTES.items() for k in range(route.calls + 1)]


class Killer:
    """Kills the function before DynamoDB call `at` (0-based); at == the number of calls: after the last one
    was made, before the answer left."""

    def __init__(self, at: int, calls: int) -> None:
        self.at = at
        self.calls = calls
        self.made = 0

    def before(self, **_: Any) -> None:
        if self.made == self.at:
            raise Killed(f"killed before call {self.at}")
        self.made += 1

    def after(self, **_: Any) -> None:
        if self.made == self.calls == self.at:
            raise Killed("killed after the last call")


def _restore(ddb: Any, items: list[dict[str, Any]]) -> None:
    for item in all_items(ddb):
        ddb.delete_item(TableName=TABLE, Key={"PK": item["PK"], "SK": item["SK"]})
    for item in items:
        ddb.put_item(TableName=TABLE, Item=item)


@pytest.mark.parametrize(("route_name", "kill_at"), KILL_POINTS, ids=[f"{n}-killed-at-{k}" for n, k in KILL_POINTS])
def test_a_function_killed_between_any_two_calls_leaves_the_before_or_the_after_state(
    api: Invoke, ddb: Any, route_name: str, kill_at: int
) -> None:
    route = WRITE_ROUTES[route_name]
    seed_world(api)
    seeded_items = all_items(ddb)
    before = visible(api)

    events = dynamodb_client().meta.events
    made: list[str] = []

    def count(model: Any, **_: Any) -> None:
        made.append(model.name)

    events.register("before-call.dynamodb", count)
    reply = api(route.method, route.path, route.body)
    events.unregister("before-call.dynamodb", count)
    assert reply.status in (200, 201), reply.body
    assert len(made) == route.calls, f"{route_name} now makes {made}: update Route.calls"
    after = visible(api)
    assert after != before

    _restore(ddb, seeded_items)
    killer = Killer(kill_at, route.calls)
    events.register("before-call.dynamodb", killer.before)
    events.register("after-call.dynamodb", killer.after)
    try:
        with pytest.raises(Killed):
            api(route.method, route.path, route.body)
    finally:
        events.unregister("before-call.dynamodb", killer.before)
        events.unregister("after-call.dynamodb", killer.after)
    state = visible(api)
    assert state in (before, after), "a mix of the before and the after state is visible"

    # The client's retry of the same request finishes the job from whichever state the kill left.
    retry = api(route.method, route.path, route.body)
    assert retry.status < 500, retry.body
    assert visible(api) == after


# -- 6. the invocation's time budget ---------------------------------------------------------------------


@pytest.mark.parametrize("left_ms", [6_000, 9_000, 10_000, 30_000])
def test_persistent_throttling_answers_503_before_the_functions_deadline(
    seeded: Invoke, faults: Faults, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, left_ms: int
) -> None:
    remaining_ms(monkeypatch, left_ms)
    faults.add("TransactWriteItems", always(lambda: dynamo_error("ThrottlingException")))
    started = clock.now
    reply = seeded("POST", "/api/v2/sessions/s1/memory", {"messages": messages((M3, "c"))})
    assert_unavailable(reply)
    assert faults.attempts["TransactWriteItems"] >= 1
    # Every pause was followed by an attempt that could time out (ATTEMPT_SECONDS) and still leave 1 s to answer.
    assert clock.now - started + ATTEMPT_SECONDS <= left_ms / 1000 - 1


def test_a_request_without_time_for_one_attempt_answers_503_at_once(
    seeded: Invoke, faults: Faults, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    remaining_ms(monkeypatch, 1000 * (ATTEMPT_SECONDS + 1) - 1)
    reply = seeded("GET", "/api/v2/sessions/s1")
    assert_unavailable(reply)
    assert sum(faults.attempts.values()) == 0, "no request was started that could outlast the function"


def test_a_user_with_more_sessions_than_one_transaction_holds_is_deleted_whole_and_a_kill_is_swept_up(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 99 sessions one transaction cannot hold the user and all their sessions: the rest are tombstoned
    after it. Killed in between, exactly those stay readable (the user is gone) until the purger sweeps them.
    (Transactions of 4 actions here, as 100 would be with 101 sessions: moto is slow with 100.)"""
    monkeypatch.setattr(users, "_TRANSACTION_SIZE", 4)
    assert api("POST", "/api/v2/users", {"user_id": "u1"}).status == 201
    session_ids = [f"s{n:03d}" for n in range(5)]
    for sid in session_ids:
        assert api("POST", "/api/v2/sessions", {"session_id": sid, "user_id": "u1"}).status == 201
    seeded_items = all_items(ddb)

    assert api("DELETE", "/api/v2/users/u1").status == 200
    assert all(api("GET", f"/api/v2/sessions/{sid}").status == 404 for sid in session_ids)

    _restore(ddb, seeded_items)
    events = dynamodb_client().meta.events

    def kill_after_the_transaction(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            raise Killed("killed after the transaction")

    events.register("after-call.dynamodb", kill_after_the_transaction)
    try:
        with pytest.raises(Killed):
            api("DELETE", "/api/v2/users/u1")
    finally:
        events.unregister("after-call.dynamodb", kill_after_the_transaction)
    readable = [sid for sid in session_ids if api("GET", f"/api/v2/sessions/{sid}").status == 200]
    assert api("GET", "/api/v2/users/u1").status == 404
    assert readable == session_ids[3:]
    assert run_purger(ddb)["batchItemFailures"] == []
    assert all(api("GET", f"/api/v2/sessions/{sid}").status == 404 for sid in session_ids)
