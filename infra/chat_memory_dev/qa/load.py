"""`chat-memory load`: a bounded HTTP load that mixes adds and reads over many sessions, then proves nothing was lost.

Users are threads, each with its own keep-alive connection (http.client: no locust, no gevent). Each loop picks a
session and either adds 1-5 messages (POST .../memory, each with a client uuid and a content unique to the run) or
reads (GET .../memory?lastn=N or GET .../messages). A user waits for each answer before its next request, so the
order in which one user's adds were acknowledged is an order the store must keep. After the load every touched
session is listed in full (GET .../messages, paged) and checked against what was acknowledged:

* lost: acknowledged (2xx) but not stored;
* duplicated: stored more than once;
* out of order: two messages of one user in one session stored in the opposite order of their acknowledgements;
* altered: stored with another uuid, content or session than sent; unexpected: stored but never sent;
* unacknowledged but stored: the request failed yet its messages are there (reported, not a failure: a client
  would retry it with the same uuids, which updates instead of adding).

Each user first makes one warm-up round (add, then both reads; `--warmup`): those are the server's cold starts
(handler imports in every worker), verified like the rest but left out of the throughput and latencies.

By default it starts its own `chat-memory serve` (embedded DynamoDB) on a free loopback port; `--url` and
`--api-key` aim it at another server or a deployed stack. Exit status 1 when any request failed or any message was
lost, duplicated, reordered, altered or unexpected; 2 when the server could not be started.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

from chat_memory_dev.local.child import ServeError, local_serve
from chat_memory_dev.local.server import API_KEY_ENV
from chat_memory_dev.stats import percentile

DEFAULT_OUT: Final = "load-results/load.json"
# The key the embedded server is started with (the `default` tenant of a throwaway table).
LOCAL_API_KEY: Final = "cm_load-test-key-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"
LOCAL_TABLE: Final = "chat-memory-load"
ADD: Final = "add"
GET_MEMORY: Final = "get_memory"
LIST_MESSAGES: Final = "list_messages"
KINDS: Final = (ADD, GET_MEMORY, LIST_MESSAGES)
VERIFY_PAGE: Final = 1000  # the API's largest page
PERCENTILES: Final = (50, 95, 99)
MAX_EXAMPLES: Final = 10  # failures described one by one in the report
LISTING_ATTEMPTS: Final = 3  # a verification read that fails is retried: it must not decide the verdict
_WORDS: Final = (
    *("memory", "session", "window", "summary", "token", "order", "store", "acknowledge", "retry", "latency"),
    *("partition", "message", "user", "assistant", "tool", "system", "request", "answer", "context", "recall"),
)


# ------------------------------------------------------------------------------------------------ statistics


def latency_summary(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max/mean in milliseconds (None when there was no request of that kind)."""
    if not seconds:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    summary: dict[str, float | None] = {f"p{p}": round(percentile(seconds, p) * 1000, 2) for p in PERCENTILES}
    summary["max"] = round(max(seconds) * 1000, 2)
    summary["mean"] = round(sum(seconds) / len(seconds) * 1000, 2)
    return summary


# ------------------------------------------------------------------------------------------------ verification


@dataclass(frozen=True)
class SentMessage:
    """A message the load sent: where, what, and whether its request was acknowledged (2xx)."""

    uuid: str
    session_id: str
    content: str
    acknowledged: bool


@dataclass(frozen=True)
class StoredMessage:
    """A message as listed by the server."""

    uuid: str
    content: str


@dataclass
class Verdict:
    """What the listing of every session says about the acknowledged messages."""

    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    altered: int = 0
    unexpected: int = 0
    unacknowledged_stored: int = 0
    unacknowledged_missing: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return self.lost + self.duplicated + self.out_of_order + self.altered + self.unexpected

    def note(self, example: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def as_json(self) -> dict[str, Any]:
        names = ("acknowledged", "stored", "lost", "duplicated", "out_of_order", "altered", "unexpected")
        body: dict[str, Any] = {name: getattr(self, name) for name in names}
        body["unacknowledged_stored"] = self.unacknowledged_stored
        body["unacknowledged_missing"] = self.unacknowledged_missing
        body["examples"] = list(self.examples)
        return body


def verify(
    sent: Mapping[str, SentMessage],
    acknowledged_order: Mapping[tuple[int, str], Sequence[str]],
    stored: Mapping[str, Sequence[StoredMessage]],
) -> Verdict:
    """Check the stored sessions against what was sent.

    `sent`: every message sent, by uuid. `acknowledged_order`: per (user, session), the uuids of that user's
    acknowledged messages in acknowledgement order (a request's messages in request order). `stored`: per session,
    its messages as listed, oldest first. A stored message is matched by uuid, else by its (unique) content.
    """
    verdict = Verdict(acknowledged=sum(m.acknowledged for m in sent.values()))
    by_content = {m.content: m for m in sent.values()}
    positions: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for session_id, messages in stored.items():
        for position, message in enumerate(messages):
            verdict.stored += 1
            original = sent.get(message.uuid) or by_content.get(message.content)
            if original is None:
                verdict.unexpected += 1
                verdict.note(f"unexpected: {message.uuid} in {session_id}")
                continue
            if (original.uuid, original.content, original.session_id) != (message.uuid, message.content, session_id):
                verdict.altered += 1
                verdict.note(f"altered: {original.uuid} (sent to {original.session_id}) in {session_id}")
            positions[original.uuid].append((session_id, position))
    for one in sent.values():
        found = positions.get(one.uuid, [])
        if len(found) > 1:
            verdict.duplicated += len(found) - 1
            verdict.note(f"duplicated: {one.uuid} stored {len(found)} times")
        if one.acknowledged and not found:
            verdict.lost += 1
            verdict.note(f"lost: {one.uuid} in {one.session_id}")
        elif not one.acknowledged:
            if found:
                verdict.unacknowledged_stored += 1
                verdict.note(f"unacknowledged but stored (not a failure): {one.uuid} in {one.session_id}")
            else:
                verdict.unacknowledged_missing += 1
    for (user, session_id), order in acknowledged_order.items():
        previous: tuple[str, int] | None = None
        for message_uuid in order:
            places = [position for where, position in positions.get(message_uuid, []) if where == session_id]
            if not places:
                continue  # lost: counted above
            if previous is not None and places[0] < previous[1]:
                verdict.out_of_order += 1
                verdict.note(f"out of order: user {user}'s {message_uuid} stored before {previous[0]}")
            previous = (message_uuid, places[0])
    return verdict


# ------------------------------------------------------------------------------------------------ HTTP client


class RequestFailedError(Exception):
    """No HTTP answer (connection refused or reset, timeout): `kind` names it in the error counts."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class ApiClient:
    """One keep-alive connection to the API; reconnects after a failed request."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout_s
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = factory(self._host, self._port, timeout=self._timeout)
        return self._connection

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes, str | None]:
        """(status, body, Retry-After) of one request; RequestFailedError when no answer came."""
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        connection = self._connect()
        try:
            connection.request(method, self._prefix + path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RequestFailedError(type(exc).__name__) from exc
        if response.will_close:
            self.close()
        return response.status, data, response.getheader("Retry-After")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def session_path(session_id: str, rest: str) -> str:
    return f"/api/v2/sessions/{quote(session_id, safe='')}/{rest}"


# ------------------------------------------------------------------------------------------------ the load


@dataclass(frozen=True)
class LoadPlan:
    users: int
    sessions: int
    read_ratio: float
    duration_s: float | None
    max_requests: int | None
    max_messages_per_add: int = 5
    warmup_rounds: int = 1
    timeout_s: float = 30.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.users < 1 or self.sessions < 1:
            raise ValueError("--users and --sessions must be at least 1")
        if not 0 <= self.read_ratio <= 1:
            raise ValueError("--read-ratio must be within 0 and 1")
        if self.duration_s is None and self.max_requests is None:
            raise ValueError("give --duration or --requests (the load is bounded)")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("--duration must be positive")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("--requests must be at least 1")
        if self.warmup_rounds < 0:
            raise ValueError("--warmup must not be negative")


@dataclass
class UserRecord:
    """What one user thread saw; merged after the load (no locks on the hot path)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    warmup_latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)
    sent: dict[str, SentMessage] = field(default_factory=dict)
    acknowledged_order: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


class SharedState:
    """Sessions that hold an acknowledged message (reads go there: others are 404) and the request budget."""

    def __init__(self, max_requests: int | None, duration_s: float | None) -> None:
        self._lock = threading.Lock()
        self._written: list[str] = []
        self._written_set: set[str] = set()
        self._budget = itertools.count()
        self._max_requests = max_requests
        self._duration_s = duration_s
        self._deadline: float | None = None
        self.started = math.nan  # perf_counter() when the measured load began
        self.stop = threading.Event()

    def begin(self) -> None:
        """The measured load starts now (after the warm-up): the clock for --duration and throughput."""
        self.started = time.perf_counter()
        if self._duration_s is not None:
            self._deadline = time.monotonic() + self._duration_s

    def take_request(self) -> bool:
        """False once the load is over (budget spent, deadline passed or stopped)."""
        if self.stop.is_set():
            return False
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return False
        return self._max_requests is None or next(self._budget) < self._max_requests

    def written(self, session_id: str) -> None:
        with self._lock:
            if session_id not in self._written_set:
                self._written_set.add(session_id)
                self._written.append(session_id)

    def a_written_session(self, rng: random.Random) -> str | None:
        with self._lock:
            return rng.choice(self._written) if self._written else None


def _message(data: bytes) -> str:
    """The `message` of an error body (the API's JSON errors), else its start."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return repr(data[:200])


def _content(run_id: str, user: int, request: int, index: int, rng: random.Random) -> str:
    filler = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 40)))
    return f"load {run_id} u{user} r{request} m{index}: {filler}"


class LoadUser:
    """One user: its own connection and choices; every request waits for its answer."""

    def __init__(self, user: int, client: ApiClient, plan: LoadPlan, session_ids: Sequence[str], run_id: str) -> None:
        self.user = user
        self.client = client
        self.plan = plan
        self.session_ids = session_ids
        self.run_id = run_id
        self.rng = random.Random(None if plan.seed is None else plan.seed * 1000 + user)  # noqa: S311 - no secret
        self.record = UserRecord()
        self._requests = 0

    def request(self, kind: str, session_id: str, *, warmup: bool = False) -> bool:
        """Send one request of `kind` (ADD, GET_MEMORY, LIST_MESSAGES) and record it; True when acknowledged."""
        self._requests += 1
        messages: list[dict[str, str]] = []
        body: Any = None
        if kind == ADD:
            for index in range(self.rng.randint(1, self.plan.max_messages_per_add)):
                role = "user" if index % 2 == 0 else "assistant"
                content = _content(self.run_id, self.user, self._requests, index, self.rng)
                messages.append({"uuid": str(uuid.uuid4()), "role": role, "role_type": role, "content": content})
            method, path, body = "POST", session_path(session_id, "memory"), {"messages": messages}
        elif kind == GET_MEMORY:
            method, path = "GET", session_path(session_id, f"memory?lastn={self.rng.randint(1, 12)}")
        else:
            method, path = "GET", session_path(session_id, "messages?limit=20&cursor=1")
        started = time.perf_counter()
        try:
            status, data, retry_after = self.client.request(method, path, body)
            failure = None if 200 <= status < 300 else str(status)
            if failure is not None and len(self.record.error_examples) < MAX_EXAMPLES:
                why = f" (Retry-After: {retry_after})" if retry_after else ""
                self.record.error_examples.append(f"{kind} {session_id}: {status} {_message(data)}{why}")
        except RequestFailedError as exc:
            failure = exc.kind
        elapsed = time.perf_counter() - started
        record = self.record
        if warmup:
            record.warmup_latencies.append(elapsed)
        else:
            record.latencies[kind].append(elapsed)
        if failure is not None:
            record.errors[failure] += 1
            record.error_kinds["warmup" if warmup else kind] += 1
        for message in messages:
            record.sent[message["uuid"]] = SentMessage(
                message["uuid"], session_id, message["content"], acknowledged=failure is None
            )
            if failure is None:
                record.acknowledged_order[session_id].append(message["uuid"])
        return failure is None

    def warm_up(self, rounds: int, shared: SharedState) -> None:
        """Requests of every kind, timed apart: the server's first requests are cold starts (imports, workers)."""
        for _ in range(rounds):
            session_id = self.rng.choice(self.session_ids)
            if self.request(ADD, session_id, warmup=True):
                shared.written(session_id)
                self.request(GET_MEMORY, session_id, warmup=True)
                self.request(LIST_MESSAGES, session_id, warmup=True)

    def run(self, shared: SharedState) -> None:
        """Requests until the load is over."""
        while shared.take_request():
            target = shared.a_written_session(self.rng) if self.rng.random() < self.plan.read_ratio else None
            if target is None:
                session_id = self.rng.choice(self.session_ids)
                if self.request(ADD, session_id):
                    shared.written(session_id)
            else:
                self.request(GET_MEMORY if self.rng.random() < 0.5 else LIST_MESSAGES, target)


class VerificationError(RuntimeError):
    """A session could not be listed after the load: nothing can be said about its messages."""


def _listing_page(client: ApiClient, session_id: str, page: int) -> tuple[int, bytes]:
    path = session_path(session_id, f"messages?limit={VERIFY_PAGE}&cursor={page}")
    for attempt in range(1, LISTING_ATTEMPTS + 1):
        try:
            status, data, _ = client.request("GET", path)
        except RequestFailedError as exc:
            status, data = 0, exc.kind.encode()
        if status in (200, 404) or attempt == LISTING_ATTEMPTS:
            return status, data
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def list_session(client: ApiClient, session_id: str) -> list[StoredMessage] | None:
    """Every message of a session, oldest first (None: the session does not exist)."""
    found: list[StoredMessage] = []
    for page in itertools.count(1):
        status, data = _listing_page(client, session_id, page)
        if status == 404 and page == 1:
            return None
        if status != 200:
            raise VerificationError(f"listing {session_id} page {page}: {status or 'no answer'} {data[:200]!r}")
        body = json.loads(data)
        found.extend(StoredMessage(str(m["uuid"]), str(m["content"])) for m in body["messages"])
        if len(body["messages"]) < VERIFY_PAGE or len(found) >= int(body["total_count"]):
            return found
    raise AssertionError("unreachable")  # pragma: no cover


def run_load(base_url: str, api_key: str, plan: LoadPlan, *, progress: IO[str] | None = None) -> dict[str, Any]:
    """Run the load against `base_url`, list every touched session, verify; the results as a JSON object."""
    run_id = uuid.uuid4().hex[:8]
    session_ids = [f"load-{run_id}-{index:04d}" for index in range(plan.sessions)]
    shared = SharedState(plan.max_requests, plan.duration_s)
    if progress is not None:
        print(
            f"chat-memory load: {plan.users} users, {plan.sessions} sessions, read ratio {plan.read_ratio:g}, "
            f"at most {_bound(plan)} against {base_url}",
            file=progress,
            flush=True,
        )
    run = _run_users(base_url, api_key, plan, session_ids, run_id, shared)
    merged, acknowledged_order = _merge(run.records)
    if progress is not None:
        print("chat-memory load: load done, listing every session", file=progress, flush=True)
    touched = sorted({m.session_id for m in merged.sent.values()})
    listing = _list_sessions(base_url, api_key, plan.timeout_s, touched)
    # A session that could not be listed proves nothing either way: left out, and the run fails.
    verdict = verify(
        {key: m for key, m in merged.sent.items() if m.session_id not in listing.unlisted},
        {key: order for key, order in acknowledged_order.items() if key[1] not in listing.unlisted},
        listing.stored,
    )
    return _results(base_url, run_id, plan, run, merged, len(touched), listing, verdict)


def _bound(plan: LoadPlan) -> str:
    """What ends the load, for the start-up line: "60 s", "500 requests" or both."""
    return " and ".join(
        filter(
            None,
            [
                f"{plan.duration_s:g} s" if plan.duration_s is not None else "",
                f"{plan.max_requests} requests" if plan.max_requests is not None else "",
            ],
        )
    )


@dataclass(frozen=True)
class _UsersRun:
    """What the user threads left: their records and the clocks of the run."""

    records: list[UserRecord]
    elapsed_s: float
    client_cpu_s: float
    warmup_s: float


def _run_users(
    base_url: str, api_key: str, plan: LoadPlan, session_ids: Sequence[str], run_id: str, shared: SharedState
) -> _UsersRun:
    """One thread per user: warm-up, then the measured load, until it is over (or interrupted)."""
    # Every user warms up, then the measured load starts for all at once.
    barrier = threading.Barrier(plan.users, action=shared.begin)
    records: list[UserRecord] = [UserRecord() for _ in range(plan.users)]
    crashes: list[BaseException] = []

    def user_thread(user: int) -> None:
        load_user = LoadUser(user, ApiClient(base_url, api_key, plan.timeout_s), plan, session_ids, run_id)
        records[user] = load_user.record
        try:
            load_user.warm_up(plan.warmup_rounds, shared)
            barrier.wait()
            load_user.run(shared)
        except threading.BrokenBarrierError:
            pass  # another user crashed during the warm-up
        except BaseException as exc:  # a bug in the load tool, not an answer of the server: stop everyone
            crashes.append(exc)
            shared.stop.set()
            barrier.abort()
        finally:
            load_user.client.close()

    threads = [threading.Thread(target=user_thread, args=(u,), name=f"load-user-{u}") for u in range(plan.users)]
    warmup_started = time.perf_counter()
    client_cpu_started = time.process_time()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        shared.stop.set()  # finish the requests in flight, then verify what was acknowledged
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - shared.started
    client_cpu_s = time.process_time() - client_cpu_started
    if crashes:
        raise crashes[0]
    return _UsersRun(records, elapsed, client_cpu_s, shared.started - warmup_started)


def _merge(records: Sequence[UserRecord]) -> tuple[UserRecord, dict[tuple[int, str], list[str]]]:
    """Every user's record in one, but for the acknowledgement orders: those by (user, session), apart."""
    merged = UserRecord()
    acknowledged_order: dict[tuple[int, str], list[str]] = {}
    for user, record in enumerate(records):
        for kind, values in record.latencies.items():
            merged.latencies[kind].extend(values)
        merged.warmup_latencies.extend(record.warmup_latencies)
        merged.errors.update(record.errors)
        merged.error_kinds.update(record.error_kinds)
        merged.error_examples.extend(record.error_examples)
        merged.sent.update(record.sent)
        for session_id, order in record.acknowledged_order.items():
            acknowledged_order[(user, session_id)] = order
    return merged, acknowledged_order


@dataclass(frozen=True)
class _Listing:
    """The touched sessions as listed after the load; `unlisted`: those that could not be, with why."""

    stored: dict[str, list[StoredMessage]]
    unlisted: dict[str, str]
    seconds: float


def _list_sessions(base_url: str, api_key: str, timeout_s: float, session_ids: Sequence[str]) -> _Listing:
    """List every session in full, over one connection."""
    started = time.perf_counter()
    client = ApiClient(base_url, api_key, timeout_s)
    stored: dict[str, list[StoredMessage]] = {}
    unlisted: dict[str, str] = {}
    try:
        for session_id in session_ids:
            try:
                stored[session_id] = list_session(client, session_id) or []
            except VerificationError as exc:
                unlisted[session_id] = str(exc)
    finally:
        client.close()
    return _Listing(stored, unlisted, time.perf_counter() - started)


def _plan_json(plan: LoadPlan) -> dict[str, Any]:
    return {
        "users": plan.users,
        "sessions": plan.sessions,
        "read_ratio": plan.read_ratio,
        "duration_s": plan.duration_s,
        "max_requests": plan.max_requests,
        "max_messages_per_add": plan.max_messages_per_add,
        "warmup_rounds": plan.warmup_rounds,
    }


def _results(
    base_url: str,
    run_id: str,
    plan: LoadPlan,
    run: _UsersRun,
    merged: UserRecord,
    sessions_touched: int,
    listing: _Listing,
    verdict: Verdict,
) -> dict[str, Any]:
    """The results as a JSON object (what `report` prints and --out holds)."""
    requests = {kind: len(merged.latencies.get(kind, [])) for kind in KINDS}
    total = sum(requests.values())
    error_count = sum(merged.errors.values())
    return {
        "target": base_url,
        "run_id": run_id,
        "plan": _plan_json(plan),
        # Cold starts, not counted in the requests, throughput and latencies below (their errors are counted).
        "warmup": {
            "seconds": round(run.warmup_s, 3),
            "requests": len(merged.warmup_latencies),
            "latency_ms": latency_summary(merged.warmup_latencies),
        },
        "elapsed_s": round(run.elapsed_s, 3),
        "client_cpu_s": round(run.client_cpu_s, 2),
        "requests": {"total": total, **requests},
        "throughput_rps": round(total / run.elapsed_s, 1) if run.elapsed_s > 0 else None,
        "messages_sent": len(merged.sent),
        "sessions_touched": sessions_touched,
        "largest_session": max((len(messages) for messages in listing.stored.values()), default=0),
        "errors": {
            "total": error_count,
            "by_status": dict(sorted(merged.errors.items())),
            "by_kind": dict(merged.error_kinds),
            "examples": merged.error_examples[:MAX_EXAMPLES],
        },
        "latency_ms": {kind: latency_summary(merged.latencies.get(kind, [])) for kind in KINDS},
        "verification": {
            **verdict.as_json(),
            "sessions_listed": len(listing.stored),
            "sessions_unlisted": len(listing.unlisted),
            "unlisted_examples": list(listing.unlisted.values())[:MAX_EXAMPLES],
            "seconds": round(listing.seconds, 3),
        },
        "ok": error_count == 0 and verdict.failures == 0 and not listing.unlisted and total > 0,
    }


# ------------------------------------------------------------------------------------------------ report


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(results: Mapping[str, Any]) -> str:
    """The results as a short text table."""
    requests = results["requests"]
    lines = [
        f"target {results['target']}  run {results['run_id']}  {results['elapsed_s']:.1f} s  "
        f"{requests['total']} requests  {results['throughput_rps']} req/s",
        f"warm-up (not counted): {results['warmup']['requests']} requests in {results['warmup']['seconds']:.1f} s, "
        f"slowest {_cell(results['warmup']['latency_ms']['max'])} ms",
        "",
        f"{'kind':<14} {'requests':>8} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}",
    ]
    for kind in KINDS:
        latency = results["latency_ms"][kind]
        lines.append(
            f"{kind:<14} {requests[kind]:>8} {results['errors']['by_kind'].get(kind, 0):>7} "
            f"{_cell(latency['p50']):>8} {_cell(latency['p95']):>8} {_cell(latency['p99']):>8} "
            f"{_cell(latency['max']):>8}"
        )
    errors = results["errors"]
    by_status = ", ".join(f"{status}: {count}" for status, count in errors["by_status"].items()) or "none"
    check = results["verification"]
    lines += [
        "",
        f"errors {errors['total']} ({by_status})",
        *(f"  {example}" for example in errors["examples"]),
        f"messages sent {results['messages_sent']}, acknowledged {check['acknowledged']}, stored {check['stored']} "
        f"in {check['sessions_listed']} sessions (largest {results['largest_session']}), listed in "
        f"{check['seconds']:.1f} s",
        f"lost {check['lost']}  duplicated {check['duplicated']}  out of order {check['out_of_order']}  "
        f"altered {check['altered']}  unexpected {check['unexpected']}  "
        f"unacknowledged but stored {check['unacknowledged_stored']}",
    ]
    lines += [f"  {example}" for example in check["examples"]]
    if check["sessions_unlisted"]:
        lines.append(f"sessions that could not be listed (not verified): {check['sessions_unlisted']}")
        lines += [f"  {example}" for example in check["unlisted_examples"]]
    cpu = results.get("serve_cpu_s")
    if cpu:
        lines.append(
            f"CPU s: serve process {cpu['server']} (HTTP, embedded DynamoDB"
            + (", handlers)" if cpu["workers"] is None else f"), its workers {cpu['workers']} (handlers)")
            + f", load client {results['client_cpu_s']} (load only)"
        )
    lines.append("OK: nothing lost, no errors" if results["ok"] else "FAILED")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ CLI

QUICK: Final = {"duration": 5.0, "users": 4, "sessions": 40}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API root of a running server or stack (default: start chat-memory serve)")
    parser.add_argument("--api-key", help=f"API key for --url (default: ${API_KEY_ENV})")
    parser.add_argument("--users", type=int, help="concurrent users, one thread each (default: 16)")
    parser.add_argument("--sessions", type=int, help="sessions the users share (default: 200)")
    parser.add_argument(
        "--read-ratio", type=float, default=0.5, help="share of requests that read, 0 to 1 (default: 0.5)"
    )
    parser.add_argument("--duration", type=float, help="seconds of load (default: 60 unless --requests is given)")
    parser.add_argument("--requests", type=int, help="stop after this many requests (with --duration: first bound)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="rounds of add + reads per user before the measured load (cold starts; default: 1)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    parser.add_argument("--seed", type=int, help="seed the users' choices (contents stay unique per run)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a CI-size run: {QUICK['duration']:g} s, {QUICK['users']} users, {QUICK['sessions']} sessions",
    )
    parser.add_argument("--serve-workers", type=int, help="passed to `chat-memory serve --workers` (local only)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="JSON results (default: %(default)s)")


def plan_from_args(args: argparse.Namespace) -> LoadPlan:
    quick = bool(args.quick)
    duration = args.duration
    if duration is None and args.requests is None:
        duration = QUICK["duration"] if quick else 60.0
    return LoadPlan(
        users=args.users if args.users is not None else int(QUICK["users"] if quick else 16),
        sessions=args.sessions if args.sessions is not None else int(QUICK["sessions"] if quick else 200),
        read_ratio=args.read_ratio,
        duration_s=duration,
        max_requests=args.requests,
        timeout_s=args.timeout,
        seed=args.seed,
        warmup_rounds=args.warmup,
    )


def run_args(args: argparse.Namespace) -> int:
    try:
        plan = plan_from_args(args)
    except ValueError as exc:
        print(f"chat-memory load: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if args.url:
            api_key = args.api_key or os.environ.get(API_KEY_ENV, "").strip()
            if not api_key:
                print(f"chat-memory load: --url needs --api-key (or ${API_KEY_ENV})", file=sys.stderr)
                return 2
            results = run_load(args.url.rstrip("/"), api_key, plan, progress=sys.stderr)
        else:
            started = time.perf_counter()
            log = out.with_suffix(".serve.log")
            with local_serve(LOCAL_API_KEY, LOCAL_TABLE, workers=args.serve_workers, log=log) as server:
                print(f"chat-memory load: serve ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
                results = run_load(server.url, LOCAL_API_KEY, plan, progress=sys.stderr)
                # Where the time went (start-up, warm-up and verification included): what bounds throughput.
                results["serve_cpu_s"] = server.cpu_seconds()
            results["serve_workers"] = args.serve_workers
    except ServeError as exc:
        print(f"chat-memory load: {exc}", file=sys.stderr)
        return 2
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report(results))
    print(f"results: {out}" + ("" if args.url else f" (the server's output: {out.with_suffix('.serve.log')})"))
    return 0 if results["ok"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-memory load", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
