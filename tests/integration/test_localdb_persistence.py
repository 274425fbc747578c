"""The data folder of the embedded DynamoDB (chat_memory_dev.localdb.persistence), in this process: what is written
comes back after a restart, from the journal and from a snapshot; a damaged or foreign folder is refused with a
message; a failed call leaves no line; a journal that cannot be written fails the call instead of losing it."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chat_memory_dev.localdb.dynamodb import create_table_from_template
from chat_memory_dev.localdb.engine import mock_dynamodb
from chat_memory_dev.localdb.persistence import FORMAT_FILE, SNAPSHOT_FILE, DataDir, DataDirError

TABLE = "persisted"
KEY = {"PK": {"S": "T#t#S#s"}, "SK": {"S": "SESSION"}}


def _client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _open(folder: Path) -> DataDir:
    data = DataDir.open(folder, "test")
    data.load()
    data.start_journal()
    return data


def _write_everything(client: Any) -> None:
    create_table_from_template(client, TABLE)
    client.put_item(TableName=TABLE, Item={**KEY, "version": {"N": "1"}, "GSI1PK": {"S": "T#t#SESSIONS"}})
    for n in range(3):
        client.put_item(
            TableName=TABLE,
            Item={"PK": {"S": "T#t#S#s"}, "SK": {"S": f"MSG#{n}"}, "MsgUuid": {"S": f"u{n}"}, "b": {"B": b"\x00\xff"}},
        )
    client.update_item(
        TableName=TABLE,
        Key=KEY,
        UpdateExpression="SET version = version + :one, meta = :m",
        ExpressionAttributeValues={":one": {"N": "1"}, ":m": {"M": {"n": {"N": "12345678901234567890.5"}}}},
    )
    client.transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "MSG#0"}}}},
            {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "T#t#U#u"}, "SK": {"S": "USER"}}}},
        ]
    )
    client.batch_write_item(
        RequestItems={TABLE: [{"DeleteRequest": {"Key": {"PK": {"S": "T#t#S#s"}, "SK": {"S": "MSG#1"}}}}]}
    )


def _everything(client: Any) -> dict[str, Any]:
    table = client.describe_table(TableName=TABLE)["Table"]
    return {
        "items": sorted(client.scan(TableName=TABLE)["Items"], key=lambda i: (i["PK"]["S"], i["SK"]["S"])),
        "indexes": sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"] + table["LocalSecondaryIndexes"]),
        "stream": table["StreamSpecification"],
        "ttl": client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"],
        "by_uuid": client.query(
            TableName=TABLE,
            IndexName="MessagesByUuid",
            KeyConditionExpression="PK = :p AND MsgUuid = :u",
            ExpressionAttributeValues={":p": {"S": "T#t#S#s"}, ":u": {"S": "u2"}},
        )["Count"],
    }


@pytest.mark.parametrize("compact", [False, True], ids=["from the journal", "from a snapshot"])
def test_what_was_written_comes_back_after_a_restart(folder: Path, compact: bool) -> None:
    with mock_dynamodb():
        data = _open(folder)
        client = _client()
        _write_everything(client)
        expected = _everything(client)
        data.close(compact=compact)
    assert (folder / SNAPSHOT_FILE).exists() is compact
    with mock_dynamodb():  # a fresh, empty moto: another process, as far as the data is concerned
        data = _open(folder)
        client = _client()
        assert _everything(client) == expected
        assert expected["items"][0]["b"] == {"B": b"\x00\xff"}, "binary values round-trip"
        client.put_item(TableName=TABLE, Item={"PK": {"S": "later"}, "SK": {"S": "X"}})
        data.close(compact=False)
    with mock_dynamodb():  # the snapshot and the journal after it
        data = _open(folder)
        assert len(_everything(_client())["items"]) == len(expected["items"]) + 1
        data.close(compact=True)


def test_the_journal_replays_with_stream_records_and_a_snapshot_without(folder: Path) -> None:
    with mock_dynamodb():
        data = _open(folder)
        _write_everything(_client())
        data.close(compact=False)
    with mock_dynamodb():
        data = _open(folder)
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE).stream_shard
        assert shard is not None and len(shard.items) > 0, "replayed changes reach the stream consumers again"
        data.close(compact=True)
    with mock_dynamodb():
        data = _open(folder)
        shard = dynamodb_backends["123456789012"]["us-east-1"].get_table(TABLE).stream_shard
        assert shard is not None and shard.items == [], "a snapshot holds what was streamed before"
        data.close(compact=False)


def test_a_failed_call_leaves_no_journal_line(folder: Path) -> None:
    with mock_dynamodb():
        data = _open(folder)
        client = _client()
        create_table_from_template(client, TABLE)
        lines = (folder / "journal-0.jsonl").read_text().count("\n")
        with pytest.raises(ClientError):
            client.put_item(TableName=TABLE, Item=KEY, ConditionExpression="attribute_exists(PK)")
        assert (folder / "journal-0.jsonl").read_text().count("\n") == lines
        data.close(compact=False)


def test_a_journal_that_cannot_be_written_fails_the_call_and_stores_nothing(folder: Path) -> None:
    with mock_dynamodb():
        data = _open(folder)
        client = _client()
        create_table_from_template(client, TABLE)
        assert data._journal is not None
        data._journal.close()  # as a full disk would refuse the write
        with pytest.raises(ClientError) as raised:
            client.put_item(TableName=TABLE, Item=KEY)
        assert raised.value.response["Error"]["Code"] == "InternalServerError"
        assert client.get_item(TableName=TABLE, Key=KEY).get("Item") is None
        data._journal = None
        data.close(compact=False)


def test_an_incomplete_last_line_is_dropped_and_reported(folder: Path) -> None:
    with mock_dynamodb():
        data = _open(folder)
        _write_everything(_client())
        data.close(compact=False)
    journal = folder / "journal-0.jsonl"
    with journal.open("a") as out:
        out.write('{"b": ["123456789012", "us-east-1"], "ops": [["put", "persis')  # killed while writing
    with mock_dynamodb():
        data = DataDir.open(folder, "test")
        report = data.load()
        assert report.torn_tail and report.journal_calls > 0
        assert journal.read_text().endswith("\n"), "the torn line is cut off"
        data.close(compact=False)


def test_a_damaged_line_is_refused_with_its_place(folder: Path) -> None:
    with mock_dynamodb():
        data = _open(folder)
        _write_everything(_client())
        data.close(compact=False)
    journal = folder / "journal-0.jsonl"
    lines = journal.read_text().splitlines()
    lines[1] = lines[1][:-5]
    journal.write_text("\n".join(lines) + "\n")
    with mock_dynamodb(), pytest.raises(DataDirError, match=r"journal-0\.jsonl line 2 is damaged"):
        DataDir.open(folder, "test").load()


def test_a_folder_of_another_format_is_refused_with_what_to_do(folder: Path) -> None:
    folder.mkdir()
    (folder / FORMAT_FILE).write_text(json.dumps({"format": 99, "written_by": "chat-memory 9"}))
    with pytest.raises(DataDirError, match=r"format 99 .* this version reads format 1"):
        DataDir.open(folder, "test")


def test_a_folder_that_is_not_a_data_folder_is_refused(folder: Path) -> None:
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match="not a chat-memory data folder"):
        DataDir.open(folder, "test")


def test_one_server_per_folder(folder: Path) -> None:
    first = DataDir.open(folder, "test")
    try:
        with pytest.raises(DataDirError, match="in use by another chat-memory serve"):
            DataDir.open(folder, "test")
    finally:
        first.close(compact=False)
    DataDir.open(folder, "test").close(compact=False)  # free again


@pytest.fixture
def saved_key(folder: Path) -> Iterator[DataDir]:
    data = DataDir.open(folder, "test")
    yield data
    data.close(compact=False)


def test_the_api_key_is_kept_readable_by_its_owner_only(saved_key: DataDir) -> None:
    assert saved_key.saved_api_key() is None
    saved_key.save_api_key("cm_secret")
    assert saved_key.saved_api_key() == "cm_secret"
    assert (saved_key.path / "api-key").stat().st_mode & 0o077 == 0
