"""The table's stream records read in the domain's terms (no AWS): what the purger and the summariser act on."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from chat_memory.adapters.dynamodb.stream import SessionTombstone, UserTombstone, session_of, tombstone


def _record(new_image: dict[str, Any] | None, keys: dict[str, Any] | None = None) -> DynamoDBRecord:
    change: dict[str, Any] = {"Keys": keys or {}}
    if new_image is not None:
        change["NewImage"] = new_image
    return DynamoDBRecord({"eventName": "MODIFY", "dynamodb": change})


def test_a_session_tombstone_names_what_to_purge() -> None:
    image = {"PK": {"S": "T#acme#S#s 1"}, "deleted": {"BOOL": True}, "version": {"N": "4"}, "last_ts": {"N": "99"}}
    assert tombstone(_record(image)) == SessionTombstone("acme", "s 1", up_to_ts=99, version=4)


def test_a_user_tombstone_names_its_incarnation() -> None:
    image = {"PK": {"S": "T#acme#U#jane"}, "deleted": {"BOOL": True}, "version": {"N": "2"}, "uuid": {"S": "u-1"}}
    assert tombstone(_record(image)) == UserTombstone("acme", "jane", user_uuid="u-1", version=2)


def test_live_items_deletes_and_other_keys_are_no_tombstones() -> None:
    live = {"PK": {"S": "T#acme#S#s"}, "deleted": {"BOOL": False}, "version": {"N": "1"}}
    other = {"PK": {"S": "APIKEY#x"}, "deleted": {"BOOL": True}, "version": {"N": "1"}}
    assert [tombstone(_record(image)) for image in (live, None, other)] == [None, None, None]


def test_a_records_session_comes_from_its_key() -> None:
    assert session_of(_record(None, {"PK": {"S": "T#acme#S#s#1"}, "SK": {"S": "MSG#1"}})) == ("acme", "s#1")
    assert session_of(_record(None, {"PK": {"S": "T#acme#U#jane"}})) is None
    assert session_of(_record(None)) is None
