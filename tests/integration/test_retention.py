"""Retention (issue 16, item 2): a session past its period is unreadable at once, deleted by TTL, purged from the
stream as a DELETE is, and every purge leaves a receipt that `GET /api/v2/deletions` lists.

The real handlers against the local DynamoDB (moto with chat_memory_dev.localdb), a clock the test moves, the
local TTL sweep (whose REMOVE records carry DynamoDB's TTL identity) and the local stream poller with the
template's own filter for the purger."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chat_memory import wiring
from chat_memory.domain.models import rfc3339_from_micros
from chat_memory_dev import cli
from chat_memory_dev.local.stream import build_stream_event, lambda_record, record_passes_filters
from chat_memory_dev.localdb.ttl import sweep_expired
from chat_memory_dev.template import stream_consumers
from tests.http_events import FakeContext, Reply, http_event, route_handler
from tests.integration.conftest import TABLE, all_items

DAY_US = 86_400 * 1_000_000


@dataclass
class Clock:
    """Microseconds since the epoch, moved by the test."""

    now_us: int = field(default_factory=lambda: time.time_ns() // 1_000)

    def __call__(self) -> int:
        self.now_us += 1  # never the same instant twice, as a real clock
        return self.now_us

    def advance(self, days: float) -> None:
        self.now_us += int(days * DAY_US)

    @property
    def now_s(self) -> int:
        return self.now_us // 1_000_000


Call = Callable[..., Reply]


@pytest.fixture
def clock(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The store's clock (the deployment's RetentionDays: 30)."""
    monkeypatch.setenv("RETENTION_DAYS", "30")
    wiring.reset()
    moved = Clock()
    wiring.dynamo_store().use_clock(moved)
    return moved


@pytest.fixture
def call(clock: Clock) -> Call:
    """A request through the function API Gateway routes it to, with the authorizer's context (the tenant, and
    `retention_days` when the tenant has its own)."""

    def invoke(
        method: str, path: str, body: Any = None, query: str = "", tenant: str = "default", **context: Any
    ) -> Reply:
        event = http_event(method, path, body, query, tenant=tenant)
        event["requestContext"]["authorizer"]["lambda"].update(context)
        result = route_handler(method, path)(event, FakeContext())
        text = result.get("body") or ""
        plain = str(result.get("headers", {}).get("Content-Type", "")).startswith("text/")
        return Reply(result["statusCode"], result.get("headers", {}), text if plain else json.loads(text or "null"))

    return invoke


class PurgerStream:
    """The purger fed by the table's stream (the local DynamoDB's records, as GetRecords gives them) through the
    template's event filter for PurgerFunction, in Lambda's event shape. (moto's in-process DynamoDB Streams API
    answers DescribeStream "not yet implemented": the records are read from the engine's shard directly.)"""

    def __init__(self, ddb: Any) -> None:
        [consumer] = [c for c in stream_consumers() if c.function == "PurgerFunction"]
        self.patterns = consumer.filter_patterns
        self.arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        self.read = 0
        self.delivered: list[dict[str, Any]] = []

    def _shard(self) -> Any:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE].stream_shard

    def poll_once(self) -> int:
        """Deliver the records written since the last round that pass the filter; how many were delivered."""
        from chat_memory.handlers import purger

        shard = self._shard()
        records = shard.get(max(self.read, int(shard.starting_sequence_number)), 10_000)
        if records:
            self.read = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        shaped = [lambda_record(r, self.arn) for r in records]  # as the local poller does: then the filter
        passed = [r for r in shaped if record_passes_filters(self.patterns, r)]
        if passed:
            result = purger.lambda_handler(build_stream_event(passed), FakeContext())
            assert result == {"batchItemFailures": []}
            self.delivered += passed
        return len(passed)


@pytest.fixture
def purger_stream(ddb: Any) -> PurgerStream:
    return PurgerStream(ddb)


def _messages(n: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [{"role": "Jane", "role_type": "user", "content": f"{prefix}{i}"} for i in range(n)]


def _add(call: Call, session: str, n: int, prefix: str = "m", **context: Any) -> list[dict[str, Any]]:
    reply = call("POST", f"/api/v2/sessions/{session}/memory", {"messages": _messages(n, prefix)}, **context)
    assert reply.status == 201, reply.body
    added: list[dict[str, Any]] = reply.body["messages"]
    return added


def _session_item(ddb: Any, session: str, tenant: str = "default") -> dict[str, Any] | None:
    key = {"PK": {"S": f"T#{tenant}#S#{session}"}, "SK": {"S": "SESSION"}}
    item: dict[str, Any] | None = ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
    return item


def _expires_at(ddb: Any, session: str, tenant: str = "default") -> int | None:
    item = _session_item(ddb, session, tenant)
    assert item is not None
    return int(item["expires_at"]["N"]) if "expires_at" in item else None


def _session_items(ddb: Any, session: str, tenant: str = "default") -> list[dict[str, Any]]:
    return [i for i in all_items(ddb) if i["PK"]["S"] == f"T#{tenant}#S#{session}"]


def _receipts(call: Call, tenant: str = "default") -> list[dict[str, Any]]:
    reply = call("GET", "/api/v2/deletions", tenant=tenant)
    assert reply.status == 200, reply.body
    receipts: list[dict[str, Any]] = reply.body
    return receipts


def _window(call: Call, session: str) -> list[str]:
    reply = call("GET", f"/api/v2/sessions/{session}/memory", query="lastn=50")
    assert reply.status == 200, reply.body
    return [m["content"] for m in reply.body["messages"]]


# -- expiry ---------------------------------------------------------------------------------------------------------


def test_a_session_past_its_period_is_unreadable_at_once_before_ttl(call: Call, clock: Clock, ddb: Any) -> None:
    assert call("POST", "/api/v2/users", {"user_id": "jane"}).status == 201
    assert call("POST", "/api/v2/sessions", {"session_id": "old", "user_id": "jane"}).status == 201
    added = _add(call, "old", 3)
    message = added[0]["uuid"]
    reads = [
        ("GET", "/api/v2/sessions/old/memory", None),
        ("GET", "/api/v2/sessions/old", None),
        ("GET", "/api/v2/sessions/old/messages", None),
        ("GET", f"/api/v2/sessions/old/messages/{message}", None),
        ("POST", "/api/v2/sessions/old/search", {"text": "m1"}),
        ("GET", "/api/v1/sessions/old/memory", None),
    ]
    clock.advance(29.9)
    assert [call(method, path, body).status for method, path, body in reads] == [200] * len(reads)
    assert [s["session_id"] for s in call("GET", "/api/v2/sessions").body] == ["old"]
    assert [s["session_id"] for s in call("GET", "/api/v2/users/jane/sessions").body] == ["old"]

    clock.advance(0.2)  # 30 days and a bit since the last message: expired, though TTL has not run
    assert _session_item(ddb, "old") is not None
    assert [call(method, path, body).status for method, path, body in reads] == [404] * len(reads)
    assert call("GET", "/api/v2/sessions").body == []
    assert call("GET", "/api/v2/users/jane/sessions").body == []
    assert call("PATCH", "/api/v2/sessions/old", {"metadata": {"a": 1}}).status == 404
    assert call("PATCH", f"/api/v2/sessions/old/messages/{message}", {"metadata": {"a": 1}}).status == 404
    assert call("DELETE", "/api/v2/sessions/old/memory").status == 404


def test_the_expiry_is_the_newest_message_plus_the_period_recomputed_by_every_write(
    call: Call, clock: Clock, ddb: Any
) -> None:
    assert call("POST", "/api/v2/sessions", {"session_id": "s"}).status == 201
    created = _expires_at(ddb, "s")
    assert created is not None and abs(created - (clock.now_s + 30 * 86_400)) <= 1  # no message yet: its creation

    clock.advance(10)
    added = _add(call, "s", 2)
    last_message_s = int(_session_item(ddb, "s")["last_ts"]["N"]) // 1_000_000  # type: ignore[index]
    assert _expires_at(ddb, "s") == last_message_s + 30 * 86_400
    assert added[-1]["created_at"].startswith(time.strftime("%Y-%m-%d", time.gmtime(clock.now_s)))

    clock.advance(20)  # a metadata change is no new message: the expiry stays
    assert call("PATCH", "/api/v2/sessions/s", {"metadata": {"topic": "x"}}).status == 200
    assert _expires_at(ddb, "s") == last_message_s + 30 * 86_400

    clock.advance(9)  # day 39: 29 days after the last message, still readable; a new message moves the expiry
    _add(call, "s", 1, prefix="later")
    assert _expires_at(ddb, "s") == clock.now_s + 30 * 86_400
    clock.advance(29)
    assert call("GET", "/api/v2/sessions/s").status == 200


def test_a_sessions_own_period_overrides_the_tenants_and_zero_keeps_it_for_ever(
    call: Call, clock: Clock, ddb: Any
) -> None:
    own = {"chat_memory": {"retention_days": 1}}
    assert call("POST", "/api/v2/sessions", {"session_id": "short", "metadata": own}).status == 201
    _add(call, "short", 1)
    forever = {"metadata": {"chat_memory": {"retention_days": 0}}, "messages": _messages(1)}
    assert call("POST", "/api/v2/sessions/forever/memory", forever).status == 201
    assert _expires_at(ddb, "forever") is None
    _add(call, "default", 1)

    clock.advance(1.5)
    assert call("GET", "/api/v2/sessions/short").status == 404
    assert call("GET", "/api/v2/sessions/default").status == 200
    # null: back to the tenant's period, from the last message
    back = {"metadata": {"chat_memory": {"retention_days": None}}}
    assert call("PATCH", "/api/v2/sessions/forever", back).status == 200
    assert _expires_at(ddb, "forever") is not None

    assert call("PATCH", "/api/v2/sessions/default", {"metadata": {"chat_memory": {"retention_days": 0}}}).status == 200
    assert _expires_at(ddb, "default") is None  # removed: no TTL deletes it
    clock.advance(36_500)
    assert call("GET", "/api/v2/sessions/default").status == 200
    assert call("GET", "/api/v2/sessions/forever").status == 404


def test_a_tenants_own_period_comes_from_the_authorizer_and_the_keys_cli(
    call: Call, clock: Clock, ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
    from chat_memory.handlers import authorizer

    _, key = ApiKeyStore(TABLE, client=ddb).create("acme", "test")

    def authorized() -> dict[str, Any]:
        event = {"version": "2.0", "type": "REQUEST", "headers": {"authorization": f"Bearer {key}"}}
        lambda_context: Any = FakeContext()
        context: dict[str, Any] = authorizer.lambda_handler(event, lambda_context)["context"]
        return context

    assert "retention_days" not in authorized()  # none of its own: the deployment's
    assert cli.main(["keys", "retention", "--table", TABLE, "--tenant", "acme", "--days", "2"]) == 0
    assert "deleted 2 days after their last message" in capsys.readouterr().out
    context = authorized()
    assert context["tenant"] == "acme"
    assert context["retention_days"] == 2

    _add(call, "s", 1, tenant="acme", retention_days=context["retention_days"])
    _add(call, "s", 1, tenant="default")  # another tenant: the deployment's 30 days
    clock.advance(3)
    assert call("GET", "/api/v2/sessions/s", tenant="acme").status == 404
    assert call("GET", "/api/v2/sessions/s", tenant="default").status == 200

    assert cli.main(["keys", "retention", "--table", TABLE, "--tenant", "acme", "--days", "0"]) == 0
    assert authorized()["retention_days"] == 0
    assert cli.main(["keys", "retention", "--table", TABLE, "--tenant", "acme", "--default"]) == 0
    assert "retention_days" not in authorized()
    capsys.readouterr()
    for bad in (["--days", "-1"], ["--days", "36501"], ["--days", "x"], []):
        with pytest.raises(SystemExit):
            cli.main(["keys", "retention", "--table", TABLE, "--tenant", "acme", *bad])
    assert cli.main(["keys", "retention", "--table", TABLE, "--tenant", "no spaces", "--days", "1"]) == 1
    assert "tenant" in capsys.readouterr().err


@pytest.mark.parametrize(
    "metadata",
    [
        {"chat_memory": {"retention_days": "7"}},
        {"chat_memory": {"retention_days": 1.5}},
        {"chat_memory": {"retention_days": True}},
        {"chat_memory": {"retention_days": -1}},
        {"chat_memory": {"retention_days": 36_501}},
        {"chat_memory": {"retention_days": [7]}},
        {"chat_memory": 7},
        {"chat_memory": "retention_days=7"},
    ],
)
def test_a_malformed_retention_is_a_400_and_stores_nothing(call: Call, ddb: Any, metadata: dict[str, Any]) -> None:
    writes = [
        ("POST", "/api/v2/sessions", {"session_id": "bad", "metadata": metadata}),
        ("POST", "/api/v2/sessions/bad/memory", {"messages": _messages(1), "metadata": metadata}),
        ("POST", "/api/v1/sessions/bad/memory", {"messages": _messages(1), "metadata": metadata}),
        ("POST", "/api/v1/sessions", {"session_id": "bad", "metadata": metadata}),
    ]
    for method, path, body in writes:
        reply = call(method, path, body)
        assert reply.status == 400, (path, reply.body)
        assert "chat_memory" in reply.body["message"], reply.body
    assert all_items(ddb) == []

    assert call("POST", "/api/v2/sessions", {"session_id": "good", "metadata": {"k": 1}}).status == 201
    before = all_items(ddb)
    for path in ("/api/v2/sessions/good", "/api/v1/sessions/good"):
        reply = call("PATCH", path, {"metadata": metadata})
        assert reply.status == 400, reply.body
        assert "chat_memory" in reply.body["message"]
    assert all_items(ddb) == before


# -- deletion by TTL, purge, receipts -------------------------------------------------------------------------------


def test_ttl_deletion_feeds_the_purger_through_the_stream_and_leaves_a_receipt(
    call: Call, clock: Clock, ddb: Any, purger_stream: PurgerStream
) -> None:
    _add(call, "old", 4)
    _add(call, "kept", 2)
    clock.advance(20)
    _add(call, "kept", 1, prefix="recent")
    clock.advance(11)
    expires_at = _expires_at(ddb, "old")
    assert expires_at is not None
    assert sweep_expired(ddb, TABLE, clock.now_s) == 1  # only "old"'s session item: the messages have no TTL
    assert len(_session_items(ddb, "old")) == 4  # the messages, waiting for the purger

    purger_stream.poll_once()
    assert _session_items(ddb, "old") == []
    assert len(_session_items(ddb, "kept")) == 4
    [receipt] = _receipts(call)
    assert receipt == {
        "session_id": "old",
        "deleted_at": rfc3339_from_micros(expires_at * 1_000_000),  # when it became unreadable
        "items_deleted": 5,  # 4 messages and the session item
        "reason": "retention",
    }
    stored = next(i for i in all_items(ddb) if i["PK"]["S"] == "T#default#DELETIONS")
    assert set(stored) == {"PK", "SK", "session_id", "deleted_ts", "items_deleted", "reason", "expires_at"}
    assert int(stored["expires_at"]["N"]) == int(stored["deleted_ts"]["N"]) // 1_000_000 + 90 * 86_400

    purger_stream.poll_once()  # nothing new; a replay of the same record writes no second receipt
    assert len(_receipts(call)) == 1


def test_a_write_to_an_expired_session_starts_a_new_incarnation_and_the_old_one_is_purged(
    call: Call, clock: Clock, ddb: Any, purger_stream: PurgerStream
) -> None:
    _add(call, "s", 3, prefix="old")
    clock.advance(31)
    _add(call, "s", 2, prefix="new")  # TTL has not run: the writer tombstones the old incarnation first
    assert _window(call, "s") == ["new0", "new1"]
    assert call("GET", "/api/v2/sessions/s/messages").body["total_count"] == 2

    purger_stream.poll_once()
    assert _window(call, "s") == ["new0", "new1"]
    assert len(_session_items(ddb, "s")) == 3  # the new session item and its 2 messages
    [receipt] = _receipts(call)
    assert (receipt["session_id"], receipt["reason"], receipt["items_deleted"]) == ("s", "retention", 3)


def test_a_session_created_after_ttl_but_before_the_purge_never_shows_the_old_messages(
    call: Call, clock: Clock, ddb: Any, purger_stream: PurgerStream
) -> None:
    _add(call, "s", 3, prefix="old")
    clock.advance(31)
    assert sweep_expired(ddb, TABLE, clock.now_s) == 1
    _add(call, "s", 1, prefix="new")  # a brand-new session: it starts now, after every leftover
    assert _window(call, "s") == ["new0"]
    purger_stream.poll_once()
    assert _window(call, "s") == ["new0"]
    assert len(_session_items(ddb, "s")) == 2
    assert [r["reason"] for r in _receipts(call)] == ["retention"]


def test_every_purge_leaves_one_receipt_newest_first_paged_and_per_tenant(
    call: Call, clock: Clock, ddb: Any, purger_stream: PurgerStream
) -> None:
    _add(call, "deleted", 2)
    assert call("POST", "/api/v2/users", {"user_id": "u"}).status == 201
    for session in ("u1", "u2"):
        assert call("POST", "/api/v2/sessions", {"session_id": session, "user_id": "u"}).status == 201
        _add(call, session, 1)
    _add(call, "expired", 1)
    assert call("DELETE", "/api/v2/sessions/deleted/memory").status == 200
    purger_stream.poll_once()
    clock.advance(1)
    assert call("DELETE", "/api/v2/users/u").status == 200
    purger_stream.poll_once()
    clock.advance(30)
    assert sweep_expired(ddb, TABLE, clock.now_s) == 1
    purger_stream.poll_once()
    purger_stream.poll_once()

    receipts = _receipts(call)
    assert [(r["session_id"], r["reason"]) for r in receipts] == [
        ("expired", "retention"),
        *sorted([("u2", "user_delete"), ("u1", "user_delete")], reverse=True),
        ("deleted", "delete"),
    ]
    assert [r["items_deleted"] for r in receipts] == [2, 2, 2, 3]
    assert [i for i in all_items(ddb) if "#S#" in i["PK"]["S"] or "#U#" in i["PK"]["S"]] == []

    first = call("GET", "/api/v2/deletions", query="limit=3")
    token = first.headers["X-Next-Page-Token"]
    rest = call("GET", "/api/v2/deletions", query=f"limit=3&page_token={token}")
    assert first.body + rest.body == receipts
    assert "X-Next-Page-Token" not in rest.headers
    assert call("GET", "/api/v2/deletions", query=f"page_token={token}", tenant="other").status == 400
    assert call("GET", "/api/v2/deletions", query="page_token=forged").status == 400
    assert call("GET", "/api/v2/deletions", query="limit=0").status == 400
    assert _receipts(call, tenant="other") == []

    clock.advance(91)  # receipts are kept 90 days (TTL removes them; unlisted at once)
    assert _receipts(call) == []


def test_the_purgers_own_deletes_and_a_functions_remove_are_not_taken_for_ttl(
    call: Call, ddb: Any, purger_stream: PurgerStream
) -> None:
    _add(call, "s", 2)
    assert call("DELETE", "/api/v2/sessions/s/memory").status == 200
    purger_stream.poll_once()  # the tombstone: purged, then the purger deletes the tombstone (a REMOVE)
    purger_stream.poll_once()
    assert [r["reason"] for r in _receipts(call)] == ["delete"]
    _add(call, "t", 1)
    ddb.delete_item(TableName=TABLE, Key={"PK": {"S": "T#default#S#t"}, "SK": {"S": "SESSION"}})  # not TTL's
    purger_stream.poll_once()
    assert len(_receipts(call)) == 1


def test_the_local_ttl_sweep_deletes_only_expired_items_and_marks_their_records_as_ttls() -> None:
    """What `chat-memory serve` runs every minute, through the embedded DynamoDB's endpoint and its Streams API."""
    import uuid

    import boto3

    from chat_memory_dev.localdb.dynamodb import EmbeddedDynamoDB, create_table_from_template
    from chat_memory_dev.localdb.ttl import TtlSweeper

    table = f"chat-memory-ttl-{uuid.uuid4().hex[:12]}"
    with EmbeddedDynamoDB() as db:
        client = boto3.client("dynamodb", endpoint_url=db.endpoint_url, region_name="us-east-1")
        streams = boto3.client("dynamodbstreams", endpoint_url=db.endpoint_url, region_name="us-east-1")
        create_table_from_template(client, table)
        try:
            now = int(time.time())
            for sk, expires in (("past", now - 1), ("future", now + 3600), ("text", None), ("none", None)):
                item: dict[str, Any] = {"PK": {"S": "T#t#S#s"}, "SK": {"S": sk}}
                if expires is not None:
                    item["expires_at"] = {"N": str(expires)}
                if sk == "text":
                    item["expires_at"] = {"S": "soon"}  # not a number: TTL ignores it
                client.put_item(TableName=table, Item=item)
            client.delete_item(TableName=table, Key={"PK": {"S": "T#t#S#s"}, "SK": {"S": "none"}})  # a function's
            assert sweep_expired(client, table, now) == 1
            assert sweep_expired(client, table, now) == 0
            left = {i["SK"]["S"] for i in client.scan(TableName=table)["Items"]}
            assert left == {"future", "text"}

            arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator)["Records"]
            removes = [
                (r["dynamodb"]["Keys"]["SK"]["S"], r.get("userIdentity")) for r in records if r["eventName"] == "REMOVE"
            ]
            assert removes == [
                ("none", None),
                ("past", {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}),
            ]  # GetRecords' shape

            sweeper = TtlSweeper(client, table, interval=0.05)
            client.put_item(TableName=table, Item={"PK": {"S": "T#t#S#s"}, "SK": {"S": "x"}, "expires_at": {"N": "1"}})
            sweeper.start()
            deadline = time.monotonic() + 5
            while sweeper.swept < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            sweeper.stop()
            assert sweeper.swept == 1
        finally:
            client.delete_table(TableName=table)


def test_the_purge_of_an_old_incarnation_never_deletes_the_new_ones_summary(
    call: Call, clock: Clock, ddb: Any, purger_stream: PurgerStream
) -> None:
    from chat_memory.handlers import purger

    def put_summary(point_ts: int) -> None:
        item = {
            "PK": {"S": "T#default#S#s"},
            "SK": {"S": "SESSION#SUMMARY"},
            "summary_uuid": {"S": f"summary-{point_ts}"},
            "created_ts": {"N": str(point_ts)},
            "content": {"S": "a summary"},
            "recent_message_uuid": {"S": "x"},
            "point_ts": {"N": str(point_ts)},
            "token_count": {"N": "2"},
            "version": {"N": "1"},
        }
        ddb.put_item(TableName=TABLE, Item=item)

    def current_summary() -> str | None:
        key = {"PK": {"S": "T#default#S#s"}, "SK": {"S": "SESSION#SUMMARY"}}
        item = ddb.get_item(TableName=TABLE, Key=key).get("Item")
        return str(item["summary_uuid"]["S"]) if item else None

    old = _add(call, "s", 3, prefix="old")
    old_point = int(_session_item(ddb, "s")["last_ts"]["N"])  # type: ignore[index]
    put_summary(old_point)  # the old incarnation's
    assert old[-1]["uuid"]
    clock.advance(31)
    _add(call, "s", 2, prefix="new")
    purger_stream.poll_once()
    assert current_summary() is None, "the old incarnation's summary went with it"
    new_point = int(_session_item(ddb, "s")["last_ts"]["N"])  # type: ignore[index]
    put_summary(new_point)  # the new incarnation's summariser wrote one
    replay = build_stream_event(purger_stream.delivered)
    assert purger.lambda_handler(replay, FakeContext()) == {"batchItemFailures": []}  # a replayed old record
    assert current_summary() == f"summary-{new_point}"
    messages = call("GET", "/api/v2/sessions/s/messages").body["messages"]
    assert [m["content"] for m in messages] == ["new0", "new1"]
    assert len(_receipts(call)) == 1
