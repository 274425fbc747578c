"""The local DynamoDB engine (chat_memory_dev.localdb): moto made to behave like DynamoDB where we rely on it.

Atomic calls under threads, an undo log that leaves nothing of a cancelled transaction (items, indexes, stream),
queries that read only what they return (checked against moto's own query on random data), streams that keep
what their readers need and survive a replaced shard. These tests fail loudly when moto changes what is patched.
"""

import random
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import httpx
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chat_memory_dev.localdb import engine, streams
from chat_memory_dev.localdb.dynamodb import EmbeddedDynamoDB, create_table_from_template
from chat_memory_dev.localdb.storage import TableItems

TABLE = "engine-test"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The embedded server (in-process moto mocks no DynamoDB Streams: its DynamoDB URL pattern swallows them)."""
    with EmbeddedDynamoDB() as embedded:
        yield embedded.endpoint_url


@pytest.fixture
def db(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint)
    config = Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=32)
    client = boto3.client("dynamodb", region_name="us-east-1", config=config)
    create_table_from_template(client, TABLE)
    yield client
    httpx.post(f"{endpoint}/moto-api/reset", trust_env=False).raise_for_status()  # moto server's own reset


def _backend_table() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE)


def _put(db: Any, pk: str, sk: str, **attrs: Any) -> None:
    item = {"PK": {"S": pk}, "SK": {"S": sk}, **attrs}
    db.put_item(TableName=TABLE, Item=item)


def _records(db: Any) -> list[dict[str, Any]]:
    arn = db.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams_client = boto3.client("dynamodbstreams", region_name="us-east-1")
    [shard] = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams_client.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = list(streams_client.get_records(ShardIterator=iterator)["Records"])  # type: ignore[arg-type]
    return records


# --- the version this engine patches --------------------------------------------------------------------------


def test_moto_is_a_version_the_engine_was_written_for_and_every_patch_is_in_place() -> None:
    assert moto.__version__.startswith(engine.SUPPORTED_MOTO), (
        f"moto {moto.__version__}: re-read chat_memory_dev/localdb against it, then widen SUPPORTED_MOTO and the pin"
    )
    engine.install()
    for name, (owner, attribute, replacement) in engine._targets().items():
        assert owner.__dict__[attribute] is replacement, f"{name} is not patched"
        assert name in engine._ORIGINAL


def test_tables_store_their_items_in_ordered_partitions(db: Any) -> None:
    assert isinstance(_backend_table().items, TableItems)


# --- atomic calls --------------------------------------------------------------------------------------------


def test_concurrent_conditional_transactions_lose_no_update(db: Any) -> None:
    """Optimistic increments from many threads in this process (no server, no outside lock): every one lands."""
    _put(db, "counter", "SESSION", n={"N": "0"})
    threads, per_thread = 8, 15
    conflicts = 0
    codes: set[str] = set()
    lock = threading.Lock()

    def bump() -> None:
        nonlocal conflicts
        done = 0
        while done < per_thread:
            seen = db.get_item(TableName=TABLE, Key={"PK": {"S": "counter"}, "SK": {"S": "SESSION"}})["Item"]["n"]
            try:
                db.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": {"PK": {"S": "counter"}, "SK": {"S": "SESSION"}},
                                "UpdateExpression": "SET n = n + :one",
                                "ConditionExpression": "n = :seen",
                                "ExpressionAttributeValues": {":one": {"N": "1"}, ":seen": seen},
                            }
                        }
                    ]
                )
                done += 1
            except ClientError as exc:
                with lock:
                    conflicts += 1
                    codes.add(exc.response["Error"]["Code"])

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    item = db.get_item(TableName=TABLE, Key={"PK": {"S": "counter"}, "SK": {"S": "SESSION"}})["Item"]
    assert int(item["n"]["N"]) == threads * per_thread
    assert codes <= {"TransactionCanceledException"}, "a lost race is a cancelled transaction, nothing else"


def _session_and_message(db: Any) -> None:
    _put(db, "T#t#S#s", "SESSION", version={"N": "1"}, GSI1PK={"S": "T#t#SESSIONS"}, GSI1SK={"S": "1#s"})
    _put(db, "T#t#S#s", "MSG#0000000000000001", MsgUuid={"S": "u-1"}, body={"S": "first"})


def _state(db: Any) -> dict[str, Any]:
    scan = db.scan(TableName=TABLE)["Items"]
    by_gsi = db.query(
        TableName=TABLE,
        IndexName="ByTenant",
        KeyConditionExpression="GSI1PK = :p",
        ExpressionAttributeValues={":p": {"S": "T#t#SESSIONS"}},
    )["Items"]
    by_uuid = db.query(
        TableName=TABLE,
        IndexName="MessagesByUuid",
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "T#t#S#s"}},
    )["Items"]
    stream = _backend_table().stream_shard.next_sequence_number  # one more for every record ever added
    return {"items": sorted(scan, key=str), "gsi": by_gsi, "lsi": by_uuid, "stream": stream}


def test_a_cancelled_transaction_leaves_nothing_behind(db: Any) -> None:
    _session_and_message(db)
    before = _state(db)
    new_session = {
        "PK": {"S": "T#t#S#t"},
        "SK": {"S": "SESSION"},
        "GSI1PK": {"S": "T#t#SESSIONS"},
        "GSI1SK": {"S": "2#t"},
    }
    with pytest.raises(ClientError) as raised:
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": new_session}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "MSG#0000000000000002"}, "MsgUuid": {"S": "u-2"}},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "MSG#0000000000000001"}},
                        "UpdateExpression": "SET body = :t REMOVE MsgUuid",
                        "ExpressionAttributeValues": {":t": {"S": "changed"}},
                    }
                },
                {
                    "ConditionCheck": {  # fails last: everything before it was written, and must be undone
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "SESSION"}},
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": {"N": "7"}},
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException", raised.value.response
    assert _state(db) == before, "no item, index entry or stream record of the cancelled transaction"


def test_an_update_that_fails_half_way_through_a_transaction_is_undone(db: Any) -> None:
    _session_and_message(db)
    before = _state(db)
    with pytest.raises(ClientError):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "MSG#0000000000000003"}}}},
                {
                    "Update": {  # adding a number to a string: fails when it is applied
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "MSG#0000000000000001"}},
                        "UpdateExpression": "SET body = body + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert _state(db) == before


def test_a_cancelled_transaction_keeps_the_table_and_its_stream_shard(db: Any) -> None:
    """moto 5.2 put a copy of the whole table back after a cancellation, with a copy of the stream: readers kept
    reading the old shard and never saw another record."""
    _session_and_message(db)
    table, shard = _backend_table(), _backend_table().stream_shard
    with pytest.raises(ClientError):
        db.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "SESSION"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            ]
        )
    assert _backend_table() is table and table.stream_shard is shard


def test_update_item_creating_an_item_is_one_insert_record(db: Any) -> None:
    start = len(_records(db))
    db.update_item(
        TableName=TABLE,
        Key={"PK": {"S": "T#t#S#n"}, "SK": {"S": "SESSION"}},
        UpdateExpression="SET version = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    [record] = _records(db)[start:]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["NewImage"]["version"] == {"N": "1"}


def test_what_requests_make_is_not_kept_for_ever(db: Any) -> None:
    """moto tracks every model object it makes (for its dashboard): every item a Query returned, every stream
    record, every shard iterator stayed in memory for good."""
    import gc

    from moto.dynamodb.models.dynamo_type import Item

    _session_and_message(db)
    for n in range(20):
        _put(db, "T#t#S#s", f"MSG#{n:016d}")
    gc.collect()
    before = sum(1 for o in gc.get_objects() if isinstance(o, Item))
    for _ in range(50):
        db.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": {"S": "T#t#S#s"}},
        )
        _streams_client().get_records(ShardIterator=_iterator(db))
    gc.collect()
    assert sum(1 for o in gc.get_objects() if isinstance(o, Item)) == before
    assert Item.instances_tracked == []  # type: ignore[attr-defined]  # set by moto's metaclass


# --- queries read only what they return ----------------------------------------------------------------------


def test_a_query_never_walks_the_table(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    _session_and_message(db)

    def walked(self: Any) -> Any:
        raise AssertionError("the query walked every item of the table")

    monkeypatch.setattr(Table, "all_items", walked)
    for index, condition, key in [
        (None, "PK = :p AND begins_with(SK, :m)", {":p": {"S": "T#t#S#s"}, ":m": {"S": "MSG#"}}),
        ("MessagesByUuid", "PK = :p AND MsgUuid = :m", {":p": {"S": "T#t#S#s"}, ":m": {"S": "u-1"}}),
        ("ByTenant", "GSI1PK = :p", {":p": {"S": "T#t#SESSIONS"}}),
    ]:
        kwargs: dict[str, Any] = {"IndexName": index} if index else {}
        found = db.query(TableName=TABLE, KeyConditionExpression=condition, ExpressionAttributeValues=key, **kwargs)
        assert found["Count"] == 1, index


def _random_items(rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for n in range(300):
        pk = f"P{rng.randrange(4)}"
        item: dict[str, Any] = {"PK": {"S": pk}, "SK": {"S": rng.choice(["MSG#", "SESSION", "SUM#", "A"]) + str(n)}}
        if rng.random() < 0.7:
            item["MsgUuid"] = {"S": f"u{rng.randrange(50):02d}"}
        if rng.random() < 0.5:
            item["GSI1PK"] = {"S": f"G{rng.randrange(3)}"}
            item["GSI1SK"] = {"S": f"{rng.randrange(30):03d}"}  # duplicates: the table's keys order them
        item["amount"] = {"N": str(Decimal(rng.randrange(-1000, 1000)) / 10)}
        items.append(item)
    return items


def _queries(rng: random.Random) -> Iterator[dict[str, Any]]:
    for _ in range(150):
        index = rng.choice([None, "MessagesByUuid", "ByTenant"])
        forward = rng.random() < 0.5
        query: dict[str, Any] = {"TableName": TABLE, "ScanIndexForward": forward}
        if rng.random() < 0.7:
            query["Limit"] = rng.randrange(1, 12)
        values: dict[str, Any] = {}
        if index == "ByTenant":
            condition, values[":h"] = "GSI1PK = :h", {"S": f"G{rng.randrange(3)}"}
            sort, low, high = "GSI1SK", f"{rng.randrange(30):03d}", f"{rng.randrange(30):03d}"
        else:
            condition, values[":h"] = "PK = :h", {"S": f"P{rng.randrange(4)}"}
            if index == "MessagesByUuid":
                sort, low, high = "MsgUuid", f"u{rng.randrange(50):02d}", f"u{rng.randrange(50):02d}"
            else:
                sort, low, high = "SK", rng.choice(["MSG#1", "S", "SUM#2", "A3"]), rng.choice(["MSG#9", "T", "Z"])
        kind = rng.choice(["", "=", "<", "<=", ">", ">=", "between", "begins"])
        if kind in ("=", "<", "<=", ">", ">="):
            condition += f" AND {sort} {kind} :a"
            values[":a"] = {"S": low}
        elif kind == "between":
            condition += f" AND {sort} BETWEEN :a AND :b"
            values[":a"], values[":b"] = {"S": min(low, high)}, {"S": max(low, high)}
        elif kind == "begins":
            condition += f" AND begins_with({sort}, :a)"
            values[":a"] = {"S": low[:2]}
        if rng.random() < 0.3:
            query["FilterExpression"] = "amount > :z"
            values[":z"] = {"N": "0"}
        if rng.random() < 0.3:
            query["ProjectionExpression"] = "PK, SK, amount"
        query["KeyConditionExpression"] = condition
        query["ExpressionAttributeValues"] = values
        if index:
            query["IndexName"] = index
        yield query


def _all_pages(db: Any, query: dict[str, Any]) -> tuple[list[list[dict[str, Any]]], int]:
    pages, start, calls = [], None, 0
    while True:
        calls += 1
        page = db.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages, calls


def test_queries_answer_what_moto_answers(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random items, random key conditions on the table and both kinds of index, paged: the ordered storage
    answers every page as moto's own query does (which walks and sorts every item of the table)."""
    rng = random.Random(20261202)
    for item in _random_items(rng):
        db.put_item(TableName=TABLE, Item=item)
    for query in _queries(rng):
        ours, our_calls = _all_pages(db, query)
        with monkeypatch.context() as plain:
            plain.setattr(engine, "_fast_query", lambda *args, **kwargs: None)
            theirs, their_calls = _all_pages(db, query)
        # DynamoDB (and so the engine) gives a LastEvaluatedKey when a page stops at its Limit even if nothing
        # follows; moto does not: at most one more, empty, page.
        if len(ours) == len(theirs) + 1:
            assert ours[-1] == [], query
            ours = ours[:-1]
        assert ours == theirs, query
        assert our_calls - their_calls in (0, 1)


# --- streams ---------------------------------------------------------------------------------------------------


def _streams_client() -> Any:
    return boto3.client("dynamodbstreams", region_name="us-east-1")


def _iterator(db: Any, kind: str = "TRIM_HORIZON", **extra: Any) -> str:
    client = _streams_client()
    arn = db.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    [shard] = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    found: str = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind, **extra)[
        "ShardIterator"
    ]
    return found


def test_records_every_reader_has_read_are_let_go(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "READ_GRACE_S", 0)
    first, second = _iterator(db), _iterator(db)
    for n in range(5):
        _put(db, "T#t#S#s", f"MSG#{n}")
    client = _streams_client()
    shard = _backend_table().stream_shard
    page = client.get_records(ShardIterator=first)
    assert len(page["Records"]) == 5
    assert len(shard.items) == 5, "the second reader has not read them yet"
    assert len(client.get_records(ShardIterator=second)["Records"]) == 5
    assert shard.items == [], "both readers are past them"
    _put(db, "T#t#S#s", "MSG#5")
    assert [
        r["dynamodb"]["Keys"]["SK"]["S"] for r in client.get_records(ShardIterator=page["NextShardIterator"])["Records"]
    ] == ["MSG#5"]


def test_a_reader_behind_the_retention_gets_trimmed_data_access(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_RECORDS", 3)
    _put(db, "T#t#S#s", "SESSION")  # the records before this test's are trimmed at its next write
    slow = _iterator(db)
    for n in range(6):
        _put(db, "T#t#S#s", f"MSG#{n}")
    with pytest.raises(ClientError) as raised:
        _streams_client().get_records(ShardIterator=slow)
    assert raised.value.response["Error"]["Code"] == "TrimmedDataAccessException"
    oldest = _streams_client().get_records(ShardIterator=_iterator(db))["Records"]
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in oldest] == ["MSG#3", "MSG#4", "MSG#5"]


def test_an_unknown_iterator_is_expired_not_a_server_error(db: Any) -> None:
    with pytest.raises(ClientError) as raised:
        _streams_client().get_records(ShardIterator="arn:aws:dynamodb:us-east-1:123456789012:table/x/stream/y|1|z")
    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_a_replaced_shard_is_closed_and_its_successor_listed(db: Any) -> None:
    reader = _iterator(db)
    _put(db, "T#t#S#s", "MSG#old")
    db.update_table(TableName=TABLE, StreamSpecification={"StreamEnabled": False})
    db.update_table(
        TableName=TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    _put(db, "T#t#S#s", "MSG#new")
    client = _streams_client()
    page = client.get_records(ShardIterator=reader)
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in page["Records"]] == ["MSG#old"]
    assert "NextShardIterator" not in page, "the old shard is closed and read to its end"
    newer = client.get_records(ShardIterator=_iterator(db))["Records"]
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in newer] == ["MSG#new"]


# --- the reads' answers, written as DynamoDB's JSON without moto's serialiser ----------------------------------


def test_every_attribute_type_reads_back_the_same_from_each_item_read(db: Any) -> None:
    attrs: dict[str, Any] = {
        "s": {"S": 'héllo "quoted" \n line'},
        "n": {"N": "-12345678901234567890.5"},
        "b": {"B": bytes(range(256))},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x00\x01", b"\xff"]},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x10"}, {"NULL": True}, {"BOOL": False}]}}},
        "l": {"L": [{"M": {"k": {"BOOL": True}}}]},
        "null": {"NULL": True},
        "bool": {"BOOL": True},
    }
    expected = {"PK": {"S": "p"}, "SK": {"S": "s1"}, **attrs}
    _put(db, "p", "s1", **attrs)

    def normalised(item: dict[str, Any]) -> dict[str, Any]:
        return {k: {t: sorted(v) if t in ("SS", "NS", "BS") else v for t, v in val.items()} for k, val in item.items()}

    key = {"PK": {"S": "p"}, "SK": {"S": "s1"}}
    condition = {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}
    answers = {
        "Query": db.query(TableName=TABLE, **condition)["Items"][0],
        "GetItem": db.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"],
        "BatchGetItem": db.batch_get_item(RequestItems={TABLE: {"Keys": [key]}})["Responses"][TABLE][0],
        "Scan": db.scan(TableName=TABLE)["Items"][0],
    }
    for action, item in answers.items():
        assert normalised(item) == normalised(expected), action
    page = db.query(TableName=TABLE, Limit=1, **condition)
    assert page["Count"] == 1 and page["LastEvaluatedKey"] == key
    with pytest.raises(ClientError, match="ResourceNotFoundException"):  # errors: still moto's serialiser
        db.query(TableName="no-such-table", **condition)
