"""Strict mode of the embedded DynamoDB (chat_memory_dev.localdb.limits): DynamoDB's size limits, refused with
DynamoDB's errors as botocore reports them, nothing stored after a refusal, the boundaries to the byte; and the local
server's Lambda payload limits (6 MB each way)."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chat_memory_dev.local.server import LAMBDA_REQUEST_BYTES, LAMBDA_RESPONSE_BYTES, LocalApi, LocalServer
from chat_memory_dev.localdb import limits
from chat_memory_dev.localdb.engine import mock_dynamodb
from chat_memory_dev.template import HttpRoute
from tests.integration.conftest import Invoke

TABLE = "limits"  # PK, SK; an LSI on MsgUuid (KEYS_ONLY), a GSI on Owner; a stream
FLAT = "flat"  # id only
KB400 = 409_600
BIG = "x" * 3000


@pytest.fixture
def db() -> Iterator[Any]:
    with mock_dynamodb():
        client = boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "MsgUuid", "Owner")],
            LocalSecondaryIndexes=[
                {
                    "IndexName": "ByUuid",
                    "KeySchema": [
                        {"AttributeName": "PK", "KeyType": "HASH"},
                        {"AttributeName": "MsgUuid", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByOwner",
                    "KeySchema": [{"AttributeName": "Owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.create_table(
            TableName=FLAT,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _key(pk: str = "p", sk: str = "s") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _item(size: int, pk: str = "p", sk: str = "s", **attrs: dict[str, Any]) -> dict[str, Any]:
    """An item of exactly `size` bytes by DynamoDB's rules (its attribute `filler` makes up the rest)."""
    base = {**_key(pk, sk), **attrs}
    pad = size - limits.attributes_size(base) - len("filler")
    item = {**base, "filler": {"S": "x" * pad}}
    assert limits.attributes_size(item) == size
    return item


def _stored(db: Any, table: str = TABLE) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = db.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _refused(call: Any, code: str, message: str | None = None) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error["Message"] == message
    return dict(info.value.response)


def _reasons(response: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(r["Code"], r.get("Message")) for r in response["CancellationReasons"]]


def _stream_length() -> int:
    from moto.dynamodb.models import dynamodb_backends

    shard = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE).stream_shard
    assert shard is not None
    return len(shard.items)


def _put_many(db: Any, items: list[dict[str, Any]], table: str = TABLE) -> None:
    for start in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        assert not db.batch_write_item(RequestItems={table: chunk})["UnprocessedItems"]


# --- sizes ------------------------------------------------------------------------------------------------------

# Measured on AWS at the 400 KB boundary (paritysuite/dynamodb-conformance, src/item-size.ts)
MEASURED_NUMBERS = {
    "0": 1, "1": 2, "12": 2, "123": 3, "1234": 3, "12345678901234567890123456789012345678": 20, "0042": 2,
    "100": 2, "1010": 3, "0.0000001": 2, "1E125": 2, "1E-100": 2, "1.5": 3, "15": 2, "1.2": 3, "1.200": 3,
    "1.234": 4, "3.14159": 5, "123456": 4, "100.5": 4, "0.15": 2, "-42": 3, "-0": 1,
}  # fmt: skip


@pytest.mark.parametrize(("number", "size"), MEASURED_NUMBERS.items())
def test_a_number_is_sized_as_dynamodb_measures_it(number: str, size: int) -> None:
    assert limits.number_size(number) == size


def test_values_are_sized_by_the_documented_rules() -> None:
    assert limits.value_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert limits.value_size({"B": b"\x00\x01\x02"}) == 3  # raw bytes, not base64
    assert limits.value_size({"BOOL": False}) == limits.value_size({"NULL": True}) == 1
    assert limits.value_size({"SS": ["ab", "c"]}) == 3
    assert limits.value_size({"NS": ["1", "123"]}) == 5
    assert limits.value_size({"L": []}) == limits.value_size({"M": {}}) == 3
    assert limits.value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert limits.value_size({"M": {"ab": {"S": "cd"}, "e": {"L": [{"NULL": True}]}}}) == 3 + (1 + 2 + 2) + (
        1 + 1 + (3 + 1 + 1)
    )
    assert limits.attributes_size({"name": {"S": "abc"}, "n": {"N": "12"}}) == 4 + 3 + 1 + 2


# --- the 400 KB item ----------------------------------------------------------------------------------------------


def test_an_item_of_exactly_400_kb_is_stored_and_one_byte_more_is_refused(db: Any) -> None:
    nested: dict[str, Any] = {
        "n": {"N": "3.14159"},
        "doc": {"M": {"list": {"L": [{"S": "a"}, {"N": "100.5"}]}, "set": {"SS": ["z"]}}},
    }
    db.put_item(TableName=TABLE, Item=_item(KB400, sk="at", **nested))
    stored = db.get_item(TableName=TABLE, Key=_key(sk="at"))["Item"]
    assert limits.attributes_size(stored) == KB400, "moto refused anything over its own 405,000"

    _refused(
        lambda: db.put_item(TableName=TABLE, Item=_item(KB400 + 1, sk="over", **nested)),
        "ValidationException",
        limits.ITEM_TOO_LARGE,
    )
    assert "Item" not in db.get_item(TableName=TABLE, Key=_key(sk="over"))


def test_a_batch_with_one_item_too_large_is_refused_whole(db: Any) -> None:
    requests = [{"PutRequest": {"Item": _item(100, sk="small")}}, {"PutRequest": {"Item": _item(KB400 + 1)}}]
    _refused(lambda: db.batch_write_item(RequestItems={TABLE: requests}), "ValidationException", limits.ITEM_TOO_LARGE)
    assert _stored(db) == []


def test_an_update_is_checked_by_the_item_it_makes_and_rolled_back_when_too_large(db: Any) -> None:
    db.put_item(TableName=TABLE, Item={**_key(), "keep": {"S": "me"}})
    streamed = _stream_length()
    before = db.get_item(TableName=TABLE, Key=_key())["Item"]
    room = KB400 - limits.attributes_size(before) - len("filler")

    def grow(by: int) -> Any:
        return db.update_item(
            TableName=TABLE,
            Key=_key(),
            UpdateExpression="SET filler = :pad",
            ExpressionAttributeValues={":pad": {"S": "x" * by}},
        )

    _refused(lambda: grow(room + 1), "ValidationException", limits.UPDATE_TOO_LARGE)
    assert db.get_item(TableName=TABLE, Key=_key())["Item"] == before
    assert _stream_length() == streamed, "no stream record of a refused update"
    grow(room)
    assert limits.attributes_size(db.get_item(TableName=TABLE, Key=_key())["Item"]) == KB400


# --- transactions ---------------------------------------------------------------------------------------------


def test_a_transaction_putting_an_item_too_large_is_refused_before_it_runs(db: Any) -> None:
    actions = [
        {"Put": {"TableName": TABLE, "Item": _item(100, sk="a")}},
        {"Put": {"TableName": TABLE, "Item": _item(KB400 + 1)}},
    ]
    _refused(lambda: db.transact_write_items(TransactItems=actions), "ValidationException", limits.ITEM_TOO_LARGE)
    assert _stored(db) == []
    db.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": _item(KB400)}}])


def test_a_transaction_updating_an_item_too_large_is_cancelled_with_a_validation_error(db: Any) -> None:
    # AWS: a Put's size is known from the request (ValidationException); an Update's only as the transaction runs:
    # TransactionCanceledException, reason ValidationError (paritysuite/dynamodb-conformance, itemSizeBySurface)
    update = {
        "TableName": TABLE,
        "Key": _key(sk="grown"),
        "UpdateExpression": "SET filler = :pad",
        "ExpressionAttributeValues": {":pad": {"S": "x" * KB400}},
    }
    actions = [{"Put": {"TableName": TABLE, "Item": _item(100, sk="a")}}, {"Update": update}]
    response = _refused(lambda: db.transact_write_items(TransactItems=actions), "TransactionCanceledException")
    assert _reasons(response) == [("None", None), ("ValidationError", limits.UPDATE_TOO_LARGE)]
    assert _stored(db) == []


def test_a_transaction_takes_100_actions_not_101(db: Any) -> None:
    puts = [{"Put": {"TableName": FLAT, "Item": {"id": {"S": str(n)}}}} for n in range(101)]
    _refused(lambda: db.transact_write_items(TransactItems=puts), "ValidationException", limits.TOO_MANY_ACTIONS)
    assert _stored(db, FLAT) == []
    db.transact_write_items(TransactItems=puts[:100])
    gets = [{"Get": {"TableName": FLAT, "Key": {"id": {"S": str(n)}}}} for n in range(101)]
    assert len(db.transact_get_items(TransactItems=gets[:100])["Responses"]) == 100, "moto alone takes 25"
    _refused(lambda: db.transact_get_items(TransactItems=gets), "ValidationException", limits.TOO_MANY_ACTIONS)


def test_a_transaction_holds_at_most_4_mb(db: Any) -> None:
    items = [_item(KB400 - 10, sk=f"{n:02}") for n in range(11)]  # 10 of them: 4,095,900 bytes; 11: over 4 MiB
    puts = [{"Put": {"TableName": TABLE, "Item": i}} for i in items]
    _refused(lambda: db.transact_write_items(TransactItems=puts), "ValidationException", limits.TRANSACTION_TOO_LARGE)
    assert _stored(db) == []
    db.transact_write_items(TransactItems=puts[:10])

    # Updates count by the items they make: 11 small updates of 400 KB items are over 4 MB, nothing changes
    _put_many(db, items[10:])
    streamed = _stream_length()
    updates = [
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key(sk=f"{n:02}"),
                "UpdateExpression": "SET seen = :t",
                "ExpressionAttributeValues": {":t": {"BOOL": True}},
            }
        }
        for n in range(11)
    ]
    _refused(
        lambda: db.transact_write_items(TransactItems=updates), "ValidationException", limits.TRANSACTION_TOO_LARGE
    )
    assert all("seen" not in i for i in _stored(db)) and _stream_length() == streamed

    gets = [{"Get": {"TableName": TABLE, "Key": _key(sk=f"{n:02}")}} for n in range(11)]
    _refused(lambda: db.transact_get_items(TransactItems=gets), "ValidationException", limits.TRANSACTION_TOO_LARGE)
    assert len(db.transact_get_items(TransactItems=gets[:10])["Responses"]) == 10

    # Deleting 4.4 MB in one transaction is allowed (the request is small), as on DynamoDB
    db.transact_write_items(
        TransactItems=[{"Delete": {"TableName": TABLE, "Key": _key(sk=f"{n:02}")}} for n in range(11)]
    )
    assert _stored(db) == []


# --- batches -----------------------------------------------------------------------------------------------------


def test_batch_get_item_takes_100_keys(db: Any) -> None:
    keys = [_key(sk=str(n)) for n in range(101)]
    _refused(
        lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": keys}}),
        "ValidationException",
        "1 validation error detected: Value at 'RequestItems.limits.member.Keys' failed to satisfy constraint: "
        "Member must have length less than or equal to 100",
    )
    _refused(
        lambda: db.batch_get_item(
            RequestItems={TABLE: {"Keys": keys[:60]}, FLAT: {"Keys": [{"id": {"S": str(n)}} for n in range(41)]}}
        ),
        "ValidationException",
        "Too many items requested for the BatchGetItem call",
    )
    assert db.batch_get_item(RequestItems={TABLE: {"Keys": keys[:100]}})["Responses"][TABLE] == []


def test_batch_get_item_answers_16_mb_and_leaves_the_rest_unprocessed(db: Any) -> None:
    big = [_item(KB400, sk=f"{n:02}") for n in range(41)]  # 40: 16,384,000 bytes; 41: over 16 MiB
    _put_many(db, [*big, _item(100, sk="z-small")])
    keys = [_key(sk=f"{n:02}") for n in range(41)] + [_key(sk="z-small")]
    answer = db.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})
    got = sorted(i["SK"]["S"] for i in answer["Responses"][TABLE])
    assert got == [f"{n:02}" for n in range(40)]
    assert answer["UnprocessedKeys"] == {TABLE: {"Keys": keys[40:], "ConsistentRead": True}}, "the rest, in order"
    again = db.batch_get_item(RequestItems=answer["UnprocessedKeys"])
    assert sorted(i["SK"]["S"] for i in again["Responses"][TABLE]) == ["40", "z-small"]
    assert again["UnprocessedKeys"] == {}


def test_batch_write_item_takes_25_requests(db: Any) -> None:
    puts = [{"PutRequest": {"Item": {"id": {"S": str(n)}}}} for n in range(26)]
    _refused(
        lambda: db.batch_write_item(RequestItems={FLAT: puts}),
        "ValidationException",
        "1 validation error detected: Value at 'RequestItems.flat.member' failed to satisfy constraint: "
        "Member must have length less than or equal to 25",
    )
    mixed = {FLAT: puts[:13], TABLE: [{"PutRequest": {"Item": _item(100, sk=str(n))}} for n in range(13)]}
    _refused(
        lambda: db.batch_write_item(RequestItems=mixed),
        "ValidationException",
        "Too many items requested for the BatchWriteItem call",
    )
    assert _stored(db) == [] and _stored(db, FLAT) == []
    db.batch_write_item(RequestItems={FLAT: puts[:25]})


# --- pages ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["query", "scan"])
def test_query_and_scan_pages_hold_at_most_1_mb(db: Any, operation: str) -> None:
    _put_many(db, [_item(300_000, sk=f"{n}") for n in range(5)])
    kwargs: dict[str, Any] = {"TableName": TABLE}
    if operation == "query":
        kwargs |= {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}
    pages = []
    while True:
        page = getattr(db, operation)(**kwargs)
        pages.append([i["SK"]["S"] for i in page["Items"]])
        assert sum(limits.attributes_size(i) for i in page["Items"]) <= 1024 * 1024
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert pages == [["0", "1", "2"], ["3", "4"]]


# --- key sizes -----------------------------------------------------------------------------------------------------


def test_a_partition_key_holds_2048_bytes_and_a_sort_key_1024(db: Any) -> None:
    db.put_item(TableName=TABLE, Item=_key("p" * 2048, "s" * 1024))
    db.put_item(TableName=TABLE, Item={**_key(), "MsgUuid": {"S": "u" * 1024}, "Owner": {"S": "o" * 2048}})
    too_long = [
        ({**_key("é" * 1025)}, limits.HASH_KEY_TOO_LARGE),  # 2,050 UTF-8 bytes
        ({**_key("p", "s" * 1025)}, limits.RANGE_KEY_TOO_LARGE),
        ({**_key("q"), "MsgUuid": {"S": "u" * 1025}}, limits.RANGE_KEY_TOO_LARGE),  # a local index's sort key
        ({**_key("q"), "Owner": {"S": "o" * 2049}}, limits.HASH_KEY_TOO_LARGE),  # a global index's partition key
    ]
    for item, message in too_long:
        _refused(lambda item=item: db.put_item(TableName=TABLE, Item=item), "ValidationException", message)
    assert len(_stored(db)) == 2

    long_key = _key("p" * 2049)
    lookups = [
        lambda: db.get_item(TableName=TABLE, Key=long_key),
        lambda: db.delete_item(TableName=TABLE, Key=long_key),
        lambda: db.update_item(
            TableName=TABLE, Key=long_key, UpdateExpression="SET a = :a", ExpressionAttributeValues={":a": {"N": "1"}}
        ),
        lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": [long_key]}}),
        lambda: db.batch_write_item(RequestItems={TABLE: [{"DeleteRequest": {"Key": long_key}}]}),
    ]
    for lookup in lookups:
        _refused(lookup, "ValidationException", limits.HASH_KEY_TOO_LARGE)
    assert len(_stored(db)) == 2


def test_a_transaction_with_a_key_too_long_is_cancelled_with_a_validation_error(db: Any) -> None:
    actions = [
        {"Put": {"TableName": TABLE, "Item": _key(sk="a")}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": _key(sk="s" * 1025),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        },
    ]
    response = _refused(lambda: db.transact_write_items(TransactItems=actions), "TransactionCanceledException")
    assert _reasons(response) == [("None", None), ("ValidationError", limits.RANGE_KEY_TOO_LARGE)]
    assert _stored(db) == []
    gets = [{"Get": {"TableName": TABLE, "Key": _key("p" * 2049)}}]
    response = _refused(lambda: db.transact_get_items(TransactItems=gets), "TransactionCanceledException")
    assert _reasons(response) == [("ValidationError", limits.HASH_KEY_TOO_LARGE)]


# --- item collections --------------------------------------------------------------------------------------------


def _collection_bytes(pk: str) -> int:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    items: Any = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE).items
    return int(dict.__getitem__(items, DynamoType({"S": pk})).collection_bytes)


def test_an_item_collection_holds_what_the_limit_allows(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "ITEM_COLLECTION_BYTES", 10_000)
    first = _item(4000, sk="1", MsgUuid={"S": "u1"})
    db.put_item(TableName=TABLE, Item=first)
    keys_only = limits.attributes_size({k: first[k] for k in ("PK", "SK", "MsgUuid")})  # its ByUuid entry
    assert _collection_bytes("p") == 4000 + keys_only
    db.put_item(TableName=TABLE, Item=_item(4000, sk="2"))  # no MsgUuid: no index entry
    assert _collection_bytes("p") == 8000 + keys_only

    full = "ItemCollectionSizeLimitExceededException"
    _refused(lambda: db.put_item(TableName=TABLE, Item=_item(3000, sk="3")), full, limits.COLLECTION_TOO_LARGE)
    db.put_item(TableName=TABLE, Item=_item(3000, pk="other", sk="3"))  # another collection
    grow = {"UpdateExpression": "SET more = :m", "ExpressionAttributeValues": {":m": {"S": BIG}}}
    _refused(lambda: db.update_item(TableName=TABLE, Key=_key(sk="2"), **grow), full, limits.COLLECTION_TOO_LARGE)
    assert db.get_item(TableName=TABLE, Key=_key(sk="2"))["Item"] == _item(4000, sk="2")
    assert _collection_bytes("p") == 8000 + keys_only

    # In a transaction, as botocore gives it on AWS: what the product's _is_session_full recognises (a 413)
    actions = [
        {"Put": {"TableName": TABLE, "Item": _item(100, pk="other", sk="4")}},
        {"Update": {"TableName": TABLE, "Key": _key(sk="2"), **grow}},
    ]
    response = _refused(lambda: db.transact_write_items(TransactItems=actions), "TransactionCanceledException")
    assert _reasons(response) == [("None", None), ("ItemCollectionSizeLimitExceeded", limits.COLLECTION_REASON)]
    assert len(_stored(db)) == 3

    db.delete_item(TableName=TABLE, Key=_key(sk="1"))  # room again; a shrinking write is always allowed
    assert _collection_bytes("p") == 4000
    db.put_item(TableName=TABLE, Item=_item(3000, sk="3"))
    db.update_item(TableName=TABLE, Key=_key(sk="2"), UpdateExpression="REMOVE filler")


def test_a_session_at_the_item_collection_limit_is_a_413_and_stores_nothing(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api("POST", "/api/v2/sessions", {"session_id": "s1"}).status == 201
    monkeypatch.setattr(limits, "ITEM_COLLECTION_BYTES", 20_000)
    before = ddb.scan(TableName="chat-memory-test")["Items"]
    message = {"role": "Jane", "role_type": "user", "content": "x" * 30_000}
    reply = api("POST", "/api/v2/sessions/s1/memory", {"messages": [message]})
    assert reply.status == 413, reply.body
    assert "10 GB" in reply.body["message"]
    assert ddb.scan(TableName="chat-memory-test")["Items"] == before


# --- the switch ----------------------------------------------------------------------------------------------------


def test_strict_mode_can_be_turned_off(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.STRICT_ENV, "0")
    db.batch_write_item(RequestItems={FLAT: [{"PutRequest": {"Item": {"id": {"S": str(n)}}}} for n in range(26)]})
    assert len(_stored(db, FLAT)) == 26
    assert "Item" not in db.get_item(TableName=TABLE, Key=_key("p" * 3000))
    _refused(lambda: db.put_item(TableName=TABLE, Item=_item(KB400)), "ValidationException", limits.ITEM_TOO_LARGE)
    monkeypatch.setenv(limits.STRICT_ENV, "1")
    db.put_item(TableName=TABLE, Item=_item(KB400))  # moto alone refuses 400 KB: it measures against 405,000


# --- the local server: Lambda's 6 MB ---------------------------------------------------------------------------


class _EchoInvoker:
    """Answers with a body of the size the request asks for (?bytes=N)."""

    def __init__(self) -> None:
        self.invoked = 0

    def invoke(self, handler: str, function: str, event: dict[str, Any], request_id: str, timeout_ms: int) -> Any:
        self.invoked += 1
        size = int(event.get("queryStringParameters", {}).get("bytes", "0"))
        return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "x" * size}


@pytest.fixture
def local() -> Iterator[tuple[httpx.Client, _EchoInvoker]]:
    route = HttpRoute(function="EchoFunction", handler="echo.handler", method="POST", path="/echo")
    invoker = _EchoInvoker()
    with LocalServer("127.0.0.1", 0, api=LocalApi([route], invoker=invoker), access_log=False) as server:
        server.start()
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
            yield client, invoker


def test_the_local_server_refuses_an_event_over_lambdas_6_mb(local: tuple[httpx.Client, _EchoInvoker]) -> None:
    client, invoker = local
    reply = client.post("/echo", content=b"a" * LAMBDA_REQUEST_BYTES)  # the body fits; the event around it does not
    assert (reply.status_code, reply.json()) == (413, {"message": "Request Entity Too Large"})
    assert invoker.invoked == 0
    assert client.post("/echo", content=b"a" * (LAMBDA_REQUEST_BYTES - 4096)).status_code == 200
    assert invoker.invoked == 1


def test_the_local_server_answers_500_for_a_response_over_lambdas_6_mb(
    local: tuple[httpx.Client, _EchoInvoker], capfd: pytest.CaptureFixture[str]
) -> None:
    client, _ = local
    overhead = len(json.dumps({"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": ""}))
    at_limit = LAMBDA_RESPONSE_BYTES - overhead
    reply = client.post(f"/echo?bytes={at_limit + 1}")
    assert (reply.status_code, reply.json()) == (500, {"message": "Internal Server Error"})
    logged = capfd.readouterr().err
    assert f"answered {LAMBDA_RESPONSE_BYTES + 1:,} bytes, over Lambda's" in logged and "xxxx" not in logged
    reply = client.post(f"/echo?bytes={at_limit}")
    assert reply.status_code == 200 and len(reply.content) == at_limit
