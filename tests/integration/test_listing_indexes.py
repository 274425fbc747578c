"""The listing indexes (ByTenant, SessionsByUser) project keys only, so an add_memory rewrites no entry of theirs:
listings read the items by key. Run on both layouts the template allows (KEYS_ONLY, new stacks; ALL, stacks
deployed before, whose entries are the items), with the same answers; the local engine, like DynamoDB, returns only
what an index projects."""

import copy
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chat_memory import wiring
from chat_memory.adapters.dynamodb import keys
from chat_memory_dev.localdb.dynamodb import create_table_from_template
from chat_memory_dev.localdb.engine import mock_dynamodb
from chat_memory_dev.template import table_properties
from tests.integration.conftest import TABLE, CallLog, Invoke

SESSION_FIELDS = {"uuid", "session_id", "created_at", "updated_at", "metadata", "user_id"}


def _layout(projection: str) -> dict[str, Any]:
    props = copy.deepcopy(table_properties())
    for index in props["GlobalSecondaryIndexes"]:
        index["Projection"] = {"ProjectionType": projection}
    return props


@pytest.fixture(params=["KEYS_ONLY", "ALL"])
def layout(request: pytest.FixtureRequest) -> str:
    projection: str = request.param
    return projection


@pytest.fixture
def ddb(layout: str) -> Iterator[Any]:
    """The table of template.yaml with its listing indexes in either layout."""
    wiring.reset()
    with mock_dynamodb():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_template(client, TABLE, properties=_layout(layout))
        yield client
    wiring.reset()


def _add(api: Invoke, session_id: str, **extra: Any) -> None:
    body = {"messages": [{"role": "u", "role_type": "user", "content": "hello"}], **extra}
    assert api("POST", f"/api/v2/sessions/{session_id}/memory", body).status == 201


def test_a_listing_index_entry_holds_only_what_the_index_projects(api: Invoke, ddb: Any, layout: str) -> None:
    """What the code can rely on: moto alone returns every attribute from any index; the engine does as DynamoDB."""
    assert api("POST", "/api/v2/users", {"user_id": "ann", "email": "a@x.io"}).status == 201
    assert api("POST", "/api/v2/sessions", {"session_id": "s", "user_id": "ann", "metadata": {"a": 1}}).status == 201
    index_keys = {keys.TABLE_PARTITION_KEY, keys.TABLE_SORT_KEY}
    for index, (pk, sk) in (
        (keys.LIST_BY_TENANT_INDEX, (keys.GSI1_PARTITION_KEY, keys.GSI1_SORT_KEY)),
        (keys.SESSIONS_BY_USER_INDEX, (keys.GSI2_PARTITION_KEY, keys.GSI2_SORT_KEY)),
    ):
        entries = ddb.scan(TableName=TABLE, IndexName=index)["Items"]
        assert entries
        for entry in entries:
            if layout == "KEYS_ONLY":
                assert set(entry) == index_keys | {pk, sk}, index
            else:
                assert "metadata" in entry or "email" in entry


def test_listings_show_what_the_items_hold_now_in_either_layout(api: Invoke, calls: CallLog, layout: str) -> None:
    for name in ("ann", "bob"):
        assert api("POST", "/api/v2/users", {"user_id": name, "first_name": name.title()}).status == 201
    for session_id, user in (("s1", "ann"), ("s2", "bob"), ("s3", "ann")):
        assert api("POST", "/api/v2/sessions", {"session_id": session_id, "user_id": user}).status == 201
    created = {s["session_id"]: s for s in api("GET", "/api/v2/sessions").body}
    time.sleep(0.002)
    _add(api, "s1", metadata={"topic": "bees"})  # counters, updated_at and metadata change
    assert api("PATCH", "/api/v2/sessions/s3", {"user_id": "bob"}).status == 200  # moved to bob
    assert api("PATCH", "/api/v2/users/ann", {"last_name": "Ames"}).status == 200
    assert api("DELETE", "/api/v2/sessions/s2/memory").status == 200

    calls.clear()
    sessions = api("GET", "/api/v2/sessions").body
    assert [s["session_id"] for s in sessions] == ["s1", "s3"]
    assert all(set(s) == SESSION_FIELDS for s in sessions), sessions
    s1 = sessions[0]
    assert (s1["metadata"], s1["uuid"], s1["created_at"]) == (
        {"topic": "bees"},
        created["s1"]["uuid"],
        created["s1"]["created_at"],
    )
    assert s1["updated_at"] > created["s1"]["updated_at"]
    batches = calls.named("BatchGetItem")
    assert (len(calls.named("Query")), len(batches), len(calls.named("Scan"))) == (1, layout == "KEYS_ONLY", 0)
    assert all(b["RequestItems"][TABLE].get("ConsistentRead") is not True for b in batches), "like the index"

    assert [s["session_id"] for s in api("GET", "/api/v2/users/ann/sessions").body] == ["s1"]
    assert [s["session_id"] for s in api("GET", "/api/v2/users/bob/sessions").body] == ["s3"]
    users = {u["user_id"]: u for u in api("GET", "/api/v2/users").body}
    assert (users["ann"]["last_name"], users["bob"]["first_name"]) == ("Ames", "Bob")

    assert api("DELETE", "/api/v2/users/bob").status == 200
    assert [s["session_id"] for s in api("GET", "/api/v2/sessions").body] == ["s1"]
    assert api("GET", "/api/v2/sessions/s3").status == 404


@pytest.mark.parametrize("layout", ["KEYS_ONLY"])  # an ALL entry is the item as the index saw it, as before
def test_a_listing_leaves_out_what_left_the_index_after_its_query(api: Invoke, ddb: Any, layout: str) -> None:
    """The index is eventually consistent: a keys-only entry may name an item deleted, moved or recreated since.
    Only items still at that place in the index are listed."""
    from chat_memory.adapters.dynamodb.table import GSI1, Table

    for session_id in ("a", "b", "c"):
        assert api("POST", "/api/v2/sessions", {"session_id": session_id}).status == 201
    table = Table(TABLE, ddb)
    stale = [dict(e) for e in ddb.scan(TableName=TABLE, IndexName=keys.LIST_BY_TENANT_INDEX)["Items"]]
    assert api("DELETE", "/api/v2/sessions/b/memory").status == 200
    real_query = ddb.query

    def stale_query(**request: Any) -> dict[str, Any]:
        answer: dict[str, Any] = real_query(**request)
        if request.get("IndexName") == keys.LIST_BY_TENANT_INDEX:
            answer["Items"] = sorted(
                (e for e in stale if e[keys.GSI1_PARTITION_KEY] == answer["Items"][0][keys.GSI1_PARTITION_KEY]),
                key=lambda e: e[keys.GSI1_SORT_KEY]["S"],
            )
        return answer

    ddb.query = stale_query
    listed = [
        item["session_id"]["S"]
        for item in table.listing(keys.LIST_BY_TENANT_INDEX, GSI1, keys.sessions_gsi_pk("default"), None, None)
    ]
    assert listed == ["a", "c"], "the stale entry of b names a tombstone, which left the index"
