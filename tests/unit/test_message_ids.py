"""Server-assigned message uuids: valid RFC 9562 version 8 UUIDs that carry the message's timestamp."""

import uuid

import pytest

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.items import message_key_item, stored_uuid
from chat_memory.adapters.dynamodb.message_ids import located_ts, located_uuid


@pytest.mark.parametrize("ts", [0, 1, 255, 256, 1_796_417_801_707_957, keys.LAST_TS, (1 << 56) - 1])
def test_our_uuid_says_where_its_message_is_stored(ts: int) -> None:
    made = located_uuid(ts)
    parsed = uuid.UUID(made)
    assert str(parsed) == made, "the hyphenated lower-case form the API hands out"
    assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
    assert located_ts(made) == ts
    assert located_ts(made.upper()) == ts


def test_two_uuids_for_one_timestamp_differ_in_their_random_bits() -> None:
    made = {located_uuid(1_800_000_000_000_000) for _ in range(1000)}
    assert len(made) == 1000


@pytest.mark.parametrize("ts", [-1, 1 << 56])
def test_a_timestamp_out_of_range_is_refused(ts: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        located_uuid(ts)


def test_other_uuids_are_not_ours() -> None:
    assert located_ts(str(uuid.uuid4())) is None
    assert located_ts("not a uuid") is None
    ours = uuid.UUID(located_uuid(1_800_000_000_000_000)).int
    assert located_ts(str(uuid.UUID(int=ours ^ (1 << 64)))) is None, "another tag"
    assert located_ts(str(uuid.UUID(int=ours ^ (1 << 76)))) is None, "another version"
    assert located_ts(str(uuid.UUID(int=ours ^ (1 << 63)))) is None, "another variant"


def test_only_a_uuid_that_names_its_own_timestamp_is_stored_without_the_index_key() -> None:
    ts = 1_800_000_000_000_000
    ours = located_uuid(ts)
    item = message_key_item("pk", ts, ours)
    assert keys.MESSAGE_UUID_ATTR not in item, "no MessagesByUuid entry"
    assert (item[keys.LOCATED_UUID_ATTR], stored_uuid(item)) == ({"S": ours}, ours)
    elsewhere = message_key_item("pk", ts + 1, ours)  # a caller sent our uuid for another message
    assert keys.LOCATED_UUID_ATTR not in elsewhere
    assert stored_uuid(elsewhere) == ours
    callers = str(uuid.uuid4())
    assert message_key_item("pk", ts, callers)[keys.MESSAGE_UUID_ATTR] == {"S": callers}
