"""The benchmarks' capacity calculator against DynamoDB's documented sizing rules and worked examples
(developerguide/CapacityUnitCalculations.html, read-write-operations.html, transaction-apis.html), and the
recorder on an in-process moto table. Items are built by hand; no AWS."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import Binary

from chat_memory_dev.bench.capacity import (
    CallRecord,
    CallTotals,
    CapacityRecorder,
    attribute_value_size,
    item_size,
    number_size,
    read_units,
    write_units,
)
from chat_memory_dev.localdb.engine import mock_dynamodb

KB = 1024


# --- item size ---------------------------------------------------------------------------------------------------


def test_attribute_names_count_their_utf8_bytes() -> None:
    assert item_size({"a": {"BOOL": True}}) == 1 + 1
    assert item_size({"é": {"NULL": True}}) == 2 + 1
    assert item_size({"Name": {"S": ""}}) == 4


def test_strings_count_their_utf8_bytes_not_characters() -> None:
    assert item_size({"s": {"S": "abc"}}) == 1 + 3
    assert item_size({"s": {"S": "é"}}) == 1 + 2
    assert item_size({"s": {"S": "日本"}}) == 1 + 6
    assert item_size({"s": {"S": "😀"}}) == 1 + 4


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("0", 1),  # no significant digits: the 1-byte overhead only
        ("1", 2),
        ("12", 2),
        ("123", 3),
        ("100", 2),  # trailing zeros trimmed: one significant digit
        ("00120", 2),  # leading and trailing zeros trimmed
        ("0.001", 2),
        ("123.45", 4),  # five significant digits: 3 bytes + 1
        ("-123.45", 4),
        ("1E+3", 2),
        ("1.5", 2),
        ("9" * 38, 20),  # the maximum precision: 38 digits
        ("1" + "0" * 36 + "1", 20),  # inner zeros are significant
    ],
)
def test_numbers_cost_a_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size
    assert item_size({"n": {"N": number}}) == 1 + size


def test_binary_counts_raw_bytes_whether_given_as_bytes_or_base64() -> None:
    raw = bytes(range(10))
    assert item_size({"b": {"B": raw}}) == 1 + 10
    assert item_size({"b": {"B": base64.b64encode(raw).decode()}}) == 1 + 10  # 16 characters of base64


def test_booleans_and_nulls_are_one_byte() -> None:
    assert attribute_value_size({"BOOL": False}) == 1
    assert attribute_value_size({"NULL": True}) == 1


def test_lists_and_maps_cost_three_bytes_plus_one_per_element() -> None:
    assert attribute_value_size({"L": []}) == 3
    assert attribute_value_size({"M": {}}) == 3
    assert attribute_value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    # A map element also counts its key, like an attribute name.
    assert attribute_value_size({"M": {"key": {"S": "ab"}}}) == 3 + 1 + 3 + 2
    nested: dict[str, Any] = {"M": {"l": {"L": [{"M": {}}]}}}
    assert attribute_value_size(nested) == 3 + (1 + 1 + (3 + (1 + 3)))


def test_sets_count_their_elements() -> None:
    assert attribute_value_size({"SS": ["a", "bc"]}) == 3
    assert attribute_value_size({"NS": ["1", "123"]}) == 2 + 3
    assert attribute_value_size({"BS": [b"ab", b"c"]}) == 3


def test_aws_sample_item_measures_as_independent_calculators_do() -> None:
    """Item 101 of AWS's ProductCatalog sample data; 137 bytes is also what third-party calculators report."""
    item = {
        "Id": {"N": "101"},
        "Title": {"S": "Book 101 Title"},
        "ISBN": {"S": "111-1111111111"},
        "Authors": {"L": [{"S": "Author1"}]},
        "Price": {"N": "2"},
        "Dimensions": {"S": "8.5 x 11.0 x 0.5"},
        "PageCount": {"N": "500"},
        "InPublication": {"BOOL": True},
        "ProductCategory": {"S": "Book"},
    }
    assert item_size(item) == 137


@pytest.mark.parametrize("value", [{"X": "1"}, {"S": "a", "N": "1"}, {"N": "abc"}, {"N": "NaN"}, {"B": "***"}])
def test_malformed_values_are_refused(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        attribute_value_size(value)


# --- units: the documentation's worked examples --------------------------------------------------------------------


def test_a_3_5_kb_item_reads_as_4_kb() -> None:
    assert read_units(3584, consistent=True) == 1.0
    assert read_units(3584, consistent=False) == 0.5


def test_a_10_kb_item_reads_as_12_kb() -> None:
    assert read_units(10 * KB, consistent=True) == 3.0  # 2.5 rounded up
    assert read_units(10 * KB, consistent=False) == 1.5


def test_an_8_kb_item_costs_2_strong_1_eventual_4_transactional() -> None:
    assert read_units(8 * KB, consistent=True) == 2.0
    assert read_units(8 * KB, consistent=False) == 1.0
    assert read_units(8 * KB, consistent=True, transactional=True) == 4.0
    assert read_units(8 * KB, consistent=False, transactional=True) == 4.0  # transactions are always consistent


def test_an_absent_item_still_costs_the_minimum_read() -> None:
    assert read_units(0, consistent=True) == 1.0
    assert read_units(0, consistent=False) == 0.5
    assert read_units(0, consistent=True, transactional=True) == 2.0


def test_batch_get_rounds_each_item_query_rounds_the_sum() -> None:
    # BatchGetItem of 1.5 KB and 6.5 KB: 4 KB + 8 KB = 12 KB, not 8 KB.
    per_item = read_units(1536, consistent=True) + read_units(6656, consistent=True)
    assert per_item == 3.0
    assert read_units(1536 + 6656, consistent=True) == 2.0  # what one Query returning both would cost
    # A Query returning 10 items totalling 40.8 KB rounds to 44 KB.
    assert read_units(int(40.8 * KB), consistent=True) == 11.0
    # A Query of 1,500 items of 64 bytes: 96,000 bytes in one rounding, 24 units (BatchGetItem would take 1,500).
    assert read_units(1500 * 64, consistent=True) == 24.0
    # 40 items of 1 KB: a Query costs 10 units (5 eventually consistent), BatchGetItem 40 (20).
    assert read_units(40 * KB, consistent=True) == 10.0
    assert read_units(40 * KB, consistent=False) == 5.0
    assert sum(read_units(KB, consistent=True) for _ in range(40)) == 40.0


def test_writes_round_up_to_1_kb() -> None:
    assert write_units(1536) == 2  # a 1.5 KB write
    assert write_units(int(1.6 * KB)) == 2  # "put or delete an item of 1.6 KB": rounded to 2 KB
    assert write_units(KB) == 1
    assert write_units(KB + 1) == 2
    assert write_units(0) == 1  # the minimum, e.g. deleting an absent item
    assert write_units(400 * KB) == 400


def test_transactional_writes_cost_twice() -> None:
    # Three 500-byte items in a transaction: 2 units each (prepare and commit), 6 in all.
    assert sum(write_units(500, transactional=True) for _ in range(3)) == 6
    assert write_units(1536, transactional=True) == 4


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        read_units(-1, consistent=True)
    with pytest.raises(ValueError, match="negative"):
        write_units(-1)


# --- the recorder on moto ----------------------------------------------------------------------------------------

TABLE = "capacity-test"

# Sizes worked out by hand from the rules above.
ITEM_A = {  # PK 2+3, SK 2+2, Body 4+2000 (1000 two-byte characters), Tags 4+3+(1+1)+(1+2): 2025 bytes
    "PK": {"S": "s#1"},
    "SK": {"N": "1"},
    "Body": {"S": "é" * 1000},
    "Tags": {"L": [{"S": "a"}, {"N": "12"}]},
}
ITEM_B = {"PK": {"S": "s#1"}, "SK": {"N": "2"}, "Body": {"S": "x" * 1000}}  # 5 + 4 + 1004 = 1013 bytes
ITEM_C = {"PK": {"S": "s#2"}, "SK": {"N": "1"}, "Body": {"S": "y" * 1500}}  # 5 + 4 + 1504 = 1513 bytes


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_dynamodb():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def _key(pk: str, sk: int) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"N": str(sk)}}


def test_hand_built_sizes() -> None:
    assert (item_size(ITEM_A), item_size(ITEM_B), item_size(ITEM_C)) == (2025, 1013, 1513)


def test_recorder_measures_put_get_query_and_transaction(client: Any) -> None:
    recorder = CapacityRecorder().attach(client)
    client.put_item(TableName=TABLE, Item=ITEM_A)
    client.put_item(TableName=TABLE, Item=ITEM_B)
    client.get_item(TableName=TABLE, Key=_key("s#1", 1), ConsistentRead=True)
    client.get_item(TableName=TABLE, Key=_key("s#1", 9))  # absent, eventually consistent
    query = {
        "TableName": TABLE,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "s#1"}},
    }
    client.query(**query)
    client.query(**query, ConsistentRead=True)
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": ITEM_C}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("s#1", 1),
                    "UpdateExpression": "SET #c = :c",
                    "ExpressionAttributeNames": {"#c": "Count"},
                    "ExpressionAttributeValues": {":c": {"N": "3"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("s#1", 2),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            {"Delete": {"TableName": TABLE, "Key": _key("s#3", 1)}},
        ]
    )

    assert recorder.records == [
        CallRecord("PutItem", 0.0, 2.0, 0, 2025, 1),  # 2025 bytes: 2 KB
        CallRecord("PutItem", 0.0, 1.0, 0, 1013, 1),
        CallRecord("GetItem", 1.0, 0.0, 2025, 0, 1, consistent=True),  # strongly consistent, under 4 KB
        CallRecord("GetItem", 0.5, 0.0, 0, 0, 0),  # nothing found: still half a unit
        # Query: 2025 + 1013 = 3038 bytes rounded once to 4 KB (GetItem of each would cost 2 x 0.5).
        CallRecord("Query", 0.5, 0.0, 3038, 0, 2),
        CallRecord("Query", 1.0, 0.0, 3038, 0, 2, consistent=True),
        # Put C 1513 B -> 2 x 2; Update: key 9 + "Count" 5 + value 2 = 16 B -> 1 x 2; ConditionCheck (key 9 B)
        # -> 1 x 2; Delete -> 1 x 2. Bytes written: 1513 + 16.
        CallRecord("TransactWriteItems", 0.0, 10.0, 0, 1529, 3),
    ]
    assert recorder.totals() == CallTotals(
        read_units=3.0,
        write_units=13.0,
        bytes_read=2025 + 3038 * 2,
        bytes_written=2025 + 1013 + 1529,
        calls={"PutItem": 2, "GetItem": 2, "Query": 2, "TransactWriteItems": 1},
    )
    assert recorder.totals(since=6) == CallTotals(0.0, 10.0, 0, 1529, {"TransactWriteItems": 1})

    # The update stored "Count": 3 (5 + 2 bytes) in item A: read back, it measures 2025 + 7.
    client.get_item(TableName=TABLE, Key=_key("s#1", 1), ConsistentRead=True)
    assert recorder.records[-1] == CallRecord("GetItem", 1.0, 0.0, 2032, 0, 1, consistent=True)

    recorder.clear()
    assert recorder.records == []
    assert recorder.totals() == CallTotals()
    recorder.detach()
    client.get_item(TableName=TABLE, Key=_key("s#1", 1))
    assert recorder.records == []


def test_recorder_measures_batches_deletes_updates_scans_and_transactional_reads(client: Any) -> None:
    with CapacityRecorder() as recorder:
        recorder.attach(client)
        recorder.attach(client)  # attaching twice records each call once
        client.batch_write_item(
            RequestItems={
                TABLE: [
                    {"PutRequest": {"Item": ITEM_A}},
                    {"PutRequest": {"Item": ITEM_B}},
                    {"DeleteRequest": {"Key": _key("s#9", 9)}},
                ]
            }
        )
        keys = [_key("s#1", 1), _key("s#1", 2), _key("s#1", 3)]  # the third is absent
        client.batch_get_item(RequestItems={TABLE: {"Keys": keys}})
        client.scan(TableName=TABLE, ConsistentRead=True)
        client.transact_get_items(
            TransactItems=[{"Get": {"TableName": TABLE, "Key": key}} for key in (keys[1], keys[2])]
        )
        client.update_item(
            TableName=TABLE,
            Key=_key("s#1", 2),
            UpdateExpression="SET Flag = :f",
            ExpressionAttributeValues={":f": {"BOOL": True}},
            ReturnValues="ALL_NEW",
        )
        client.delete_item(TableName=TABLE, Key=_key("s#1", 2), ReturnValues="ALL_OLD")
        client.delete_item(TableName=TABLE, Key=_key("s#1", 2))  # gone: the minimum
        client.describe_table(TableName=TABLE)

    assert recorder.records == [
        CallRecord("BatchWriteItem", 0.0, 2.0 + 1.0 + 1.0, 0, 2025 + 1013, 3),
        CallRecord("BatchGetItem", 0.5 * 3, 0.0, 2025 + 1013, 0, 2),  # each item rounded alone
        CallRecord("Scan", 1.0, 0.0, 3038, 0, 2, consistent=True),
        CallRecord("TransactGetItems", 2.0 + 2.0, 0.0, 1013, 0, 1, consistent=True),
        CallRecord("UpdateItem", 0.0, 1.0, 0, 1013 + 4 + 1, 1),  # ALL_NEW: the new item exactly, 1018 B
        CallRecord("DeleteItem", 0.0, 1.0, 0, 1018, 1),  # ALL_OLD: the deleted item
        CallRecord("DeleteItem", 0.0, 1.0, 0, 0, 1),
        CallRecord("DescribeTable", 0.0, 0.0, 0, 0, 0),
    ]
    client.scan(TableName=TABLE)  # detached on leaving the block
    assert len(recorder.records) == 8


def test_failed_conditional_write_costs_the_existing_item_or_one_unit(client: Any) -> None:
    recorder = CapacityRecorder().attach(client)
    client.put_item(TableName=TABLE, Item=ITEM_A)
    for return_old in ("ALL_OLD", "NONE"):
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(
                TableName=TABLE,
                Item=ITEM_B | {"SK": {"N": "1"}},
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure=return_old,
            )
    assert recorder.records[1:] == [
        CallRecord("PutItem", 0.0, 2.0, 0, 0, 0, error="ConditionalCheckFailedException"),  # item A: 2 KB
        CallRecord("PutItem", 0.0, 1.0, 0, 0, 0, error="ConditionalCheckFailedException"),
    ]


def test_recorder_on_a_resource_table_sees_low_level_values(client: Any) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE)
    recorder = CapacityRecorder().attach(table)
    table.put_item(Item={"PK": "s#1", "SK": 1, "Body": "x" * 10, "Raw": b"\x00\x01"})  # 5 + 4 + 14 + 5 = 28
    item = table.get_item(Key={"PK": "s#1", "SK": 1})["Item"]
    assert item["SK"] == Decimal(1)  # boto3 still hands back Python values
    assert item["Raw"] == Binary(b"\x00\x01")
    assert [(r.operation, r.bytes_written, r.bytes_read) for r in recorder.records] == [
        ("PutItem", 28, 0),
        ("GetItem", 0, 28),
    ]


def test_recorder_measures_langchains_history(client: Any) -> None:
    """LangChain keeps a conversation in one item: GetItem then UpdateItem (SET History = :h) per message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import DynamoDBChatMessageHistory
    client.create_table(
        TableName="langchain",
        KeySchema=[{"AttributeName": "SessionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "SessionId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    history = DynamoDBChatMessageHistory(table_name="langchain", session_id="s1")
    recorder = CapacityRecorder().attach(history.table)
    history.add_user_message("Who was Octavia Butler?")
    history.add_ai_message("An American science fiction author.")
    assert len(history.messages) == 2
    get_empty, update_1, get_1, update_2, get_2 = recorder.records
    assert (get_empty.operation, get_empty.read_units, get_empty.bytes_read) == ("GetItem", 0.5, 0)
    assert (update_1.operation, get_1.operation, update_2.operation) == ("UpdateItem", "GetItem", "UpdateItem")
    # The update's estimate (key + "History" + the whole list) is the stored item, as read back.
    assert get_1.bytes_read == update_1.bytes_written > 0
    assert get_2.bytes_read == update_2.bytes_written > update_1.bytes_written


# -- secondary indexes -----------------------------------------------------------------------------------------


def test_index_entries_cost_one_write_each_when_the_item_is_in_the_index() -> None:
    from chat_memory_dev.bench.capacity import INDEX_ENTRY_OVERHEAD, IndexSpec, _account

    lsi = IndexSpec("ByUuid", table_key=("PK", "SK"), index_key=("PK", "U"), projection="KEYS_ONLY")
    gsi = IndexSpec("Listing", table_key=("PK", "SK"), index_key=("G",), projection="ALL")
    item = {"PK": {"S": "p"}, "SK": {"S": "s"}, "U": {"S": "u"}, "body": {"S": "x" * 3000}}
    keys_only = {"PK": {"S": "p"}, "SK": {"S": "s"}, "U": {"S": "u"}}
    assert lsi.entry_size(item) == item_size(keys_only) + INDEX_ENTRY_OVERHEAD
    assert gsi.entry_size(item) is None, "no G attribute: not in the sparse index"
    with_g = {**item, "G": {"S": "g"}}
    assert gsi.entry_size(with_g) == item_size(with_g) + INDEX_ENTRY_OVERHEAD

    plain = _account("PutItem", {"TableName": "t", "Item": with_g}, {})
    indexed = _account("PutItem", {"TableName": "t", "Item": with_g}, {}, {"t": (lsi, gsi)})
    assert plain.index_write_units == 0
    # the LSI entry is ~110 bytes (1 unit), the GSI entry the whole item + 100 bytes (4 units)
    assert indexed.index_write_units == 1 + 4
    tx = _account(
        "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t", "Item": item}}]}, {}, {"t": (lsi,)}
    )
    assert (tx.write_units, tx.index_write_units) == (2 * 3, 1), "the table write doubles, the index write does not"


def test_the_templates_indexes_are_read_from_its_properties() -> None:
    from chat_memory_dev.bench.capacity import indexes_from_table_properties
    from chat_memory_dev.template import table_properties

    specs = {s.name: s for s in indexes_from_table_properties(table_properties())}
    assert set(specs) == {"MessagesByUuid", "ByTenant", "SessionsByUser"}
    assert specs["MessagesByUuid"].projection == "KEYS_ONLY"
    assert specs["MessagesByUuid"].index_key == ("PK", "MsgUuid")


def test_an_index_entry_is_written_only_when_a_key_or_projected_attribute_changes() -> None:
    """DynamoDB's rules (GSI.html, throughput considerations; LSIs alike): none when the entry stays as it was."""
    from chat_memory_dev.bench.capacity import INDEX_ENTRY_OVERHEAD, IndexSpec

    table_key = ("PK", "SK")
    keys_only = IndexSpec("K", table_key, ("G",), "KEYS_ONLY")
    include = IndexSpec("I", table_key, ("G",), "INCLUDE", ("name",))
    everything = IndexSpec("A", table_key, ("G",), "ALL")
    old = {"PK": {"S": "p"}, "SK": {"S": "s"}, "G": {"S": "g"}, "name": {"S": "n"}, "count": {"N": "1"}}
    counted = {**old, "count": {"N": "2"}}
    renamed = {**old, "name": {"S": "m"}}
    moved = {**old, "G": {"S": "h"}}
    unlisted = {k: v for k, v in old.items() if k != "G"}
    big = {**old, "count": {"N": "3"}, "body": {"S": "x" * 2000}}

    assert [i.entry_writes(old, counted) for i in (keys_only, include, everything)] == [0, 0, 1]
    assert [i.entry_writes(old, renamed) for i in (keys_only, include, everything)] == [0, 1, 1]
    assert [i.entry_writes(old, moved) for i in (keys_only, include, everything)] == [2, 2, 2], "delete + put"
    assert [i.entry_writes(None, old) for i in (keys_only, include, everything)] == [1, 1, 1], "a new entry"
    assert [i.entry_writes(old, unlisted) for i in (keys_only, include, everything)] == [1, 1, 1], "out of it"
    assert [i.entry_writes(old, None) for i in (keys_only, include, everything)] == [1, 1, 1], "item deleted"
    assert [i.entry_writes(None, unlisted) for i in (keys_only, include, everything)] == [0, 0, 0], "sparse"
    assert [i.entry_writes(old, old) for i in (keys_only, include, everything)] == [0, 0, 0]
    assert everything.entry_writes(old, big) == write_units(item_size(big) + INDEX_ENTRY_OVERHEAD) == 3


def test_with_an_image_reader_the_recorder_counts_index_writes_exactly(client: Any) -> None:
    """A put that rewrites an item without changing its keys-only entry costs the index nothing; without a reader
    the recorder can only count every put's entries (the upper bound it documents)."""
    from chat_memory_dev.bench.capacity import IndexSpec

    unrecorded = boto3.client("dynamodb", region_name="us-east-1")

    def read(table: str, key: Any) -> Any:
        return unrecorded.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    spec = IndexSpec("K", ("PK", "SK"), ("G",), "KEYS_ONLY")
    exact = CapacityRecorder(indexes={TABLE: (spec,)}, reader=read)
    upper = CapacityRecorder(indexes={TABLE: (spec,)})
    listed = {**_key("s#9", 1), "G": {"S": "g"}, "n": {"N": "1"}}
    client.put_item(TableName=TABLE, Item=listed)  # before the recorders: the item exists
    with exact.attach(client), upper.attach(client):
        client.put_item(TableName=TABLE, Item={**listed, "n": {"N": "2"}})  # entry unchanged
        client.transact_write_items(
            TransactItems=[{"Put": {"TableName": TABLE, "Item": {**listed, "G": {"S": "h"}}}}]  # moved: 2
        )
        client.update_item(  # out of the index: 1
            TableName=TABLE, Key=_key("s#9", 1), UpdateExpression="REMOVE G"
        )
        client.put_item(TableName=TABLE, Item={**_key("s#9", 2), "n": {"N": "1"}})  # never in it: 0
    assert [r.index_write_units for r in exact.records] == [0, 2, 1, 0]
    assert [r.index_write_units for r in upper.records] == [1, 1, 0, 0]
    assert [r.write_units - r.index_write_units for r in exact.records] == [
        r.write_units - r.index_write_units for r in upper.records
    ], "the table's own writes are the same"
