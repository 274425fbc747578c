"""The table's key layout. template.yaml declares the same names (a test checks they agree).

One table, items grouped by session:

| item     | PK                          | SK                       | indexes                                   |
|----------|-----------------------------|--------------------------|-------------------------------------------|
| session  | T#{tenant}#S#{session_id}   | SESSION                  | GSI1: T#{tenant}#SESSIONS / {created}#{id} |
|          |                             |                          | GSI2: T#{tenant}#US#{user uuid}#{user_id} |
|          |                             |                          |       / {created}#{id}                    |
| message  | T#{tenant}#S#{session_id}   | MSG#{ts:016d}            | LSI1: PK / MsgUuid (a caller's uuid only) |
| summary  | T#{tenant}#S#{session_id}   | SESSION#SUMMARY          | the current summary (perpetual memory)    |
| history  | T#{tenant}#S#{session_id}   | SUMMARY#{point:016d}     | every summary, by the newest message it covers |
| changed  | T#{tenant}#S#{session_id}   | CHANGED#{at:016d}#{rand} | which stored messages a write changed (expires) |
| index    | T#{tenant}#S#{session_id}   | IDX#{bucket:03d}#{first} | a sealed block's postings of one term bucket |
| docs     | T#{tenant}#S#{session_id}   | IDX#DOC#{first:016d}     | a sealed block's message timestamps          |
| head     | T#{tenant}#S#{session_id}   | INDEX                    | the search index's blocks and statistics     |
| user     | T#{tenant}#U#{user_id}      | USER                     | GSI1: T#{tenant}#USERS / {created}#{id}   |
| idempotency | T#{tenant}#IDEMPOTENCY#{hash} | IDEMPOTENCY         | none (expires: TTL on expires_at)         |
| settings | T#{tenant}#SETTINGS         | SETTINGS                 | the tenant's own retention period         |
| receipt  | T#{tenant}#DELETIONS        | {deleted:016d}#{id}      | a purged session's receipt (expires: TTL) |

GSI1 (ByTenant) and GSI2 (SessionsByUser) project keys only in the template's default layout (an add_memory then
rewrites no entry of theirs); listings read the items by key (batch_get.py). A message's uuid is `MsgUuid` (the
LSI's key) when the caller chose it, `uuid` when it carries the message's own timestamp (message_ids.py).

`ts` is the message's created_at in microseconds. 'MSG#' < 'SESSION' < 'SESSION#SUMMARY' < 'SUMMARY#', so one
descending Query from the current summary down to 'MSG#' returns the summary, the session item and then the
newest messages, and never reads the summary history.
"""

from __future__ import annotations

from typing import Final

TABLE_PARTITION_KEY: Final = "PK"
TABLE_SORT_KEY: Final = "SK"

MESSAGE_UUID_INDEX: Final = "MessagesByUuid"  # LSI: strongly consistent lookups by message uuid
MESSAGE_UUID_ATTR: Final = "MsgUuid"  # a caller's uuid: the LSI's key
# A uuid of the form that says where its message is stored (message_ids.py): no LSI entry, found by its key.
LOCATED_UUID_ATTR: Final = "uuid"

LIST_BY_TENANT_INDEX: Final = "ByTenant"  # GSI, sparse: a tenant's live sessions and live users
GSI1_PARTITION_KEY: Final = "GSI1PK"
GSI1_SORT_KEY: Final = "GSI1SK"

SESSIONS_BY_USER_INDEX: Final = "SessionsByUser"  # GSI, sparse: live sessions that have a user
GSI2_PARTITION_KEY: Final = "GSI2PK"
GSI2_SORT_KEY: Final = "GSI2SK"

TTL_ATTR: Final = "expires_at"

API_KEY_SK: Final = "APIKEY"
API_KEYS_GSI_PK: Final = "APIKEYS"  # every key of the deployment, listed by the admin CLI
SESSION_SK: Final = "SESSION"
USER_SK: Final = "USER"
IDEMPOTENCY_SK: Final = "IDEMPOTENCY"  # an Idempotency-Key record: one partition each
SETTINGS_SK: Final = "SETTINGS"  # a tenant's settings (its retention period)
CURRENT_SUMMARY_SK: Final = "SESSION#SUMMARY"
SUMMARY_HISTORY_PREFIX: Final = "SUMMARY#"
MESSAGE_SK_PREFIX: Final = "MSG#"
CHANGED_SK_PREFIX: Final = "CHANGED#"  # 'CHANGED#' < 'MSG#': never inside a window's or a page's range
# The search index: 'CHANGED#' < 'IDX#' < 'INDEX' < 'MSG#', outside every window's and message page's range.
INDEX_SK_PREFIX: Final = "IDX#"
INDEX_HEAD_SK: Final = "INDEX"
_INDEX_DOCS: Final = "DOC"
_TS_DIGITS: Final = 16  # microseconds since 1970 stay 16 digits until the year 2286


def parse_session_pk(pk: str) -> tuple[str, str] | None:
    """(tenant, session_id) of a session partition key, or None for any other key."""
    parts = pk.split("#", 3)
    if len(parts) != 4 or parts[0] != "T" or parts[2] != "S":
        return None
    return parts[1], parts[3]


def message_sk(ts: int) -> str:
    return f"{MESSAGE_SK_PREFIX}{ts:0{_TS_DIGITS}d}"


LAST_TS: Final = 10**_TS_DIGITS - 1
LAST_MESSAGE_SK: Final = message_sk(LAST_TS)


def session_pk(tenant: str, session_id: str) -> str:
    return f"T#{tenant}#S#{session_id}"


def ts_from_message_sk(sk: str) -> int:
    return int(sk.removeprefix(MESSAGE_SK_PREFIX))


def sessions_gsi_pk(tenant: str) -> str:
    return f"T#{tenant}#SESSIONS"


def users_gsi_pk(tenant: str) -> str:
    return f"T#{tenant}#USERS"


def created_sk(created_ts: int, item_id: str) -> str:
    """The sort key of a listing index: creation order, then id."""
    return f"{created_ts:0{_TS_DIGITS}d}#{item_id}"


def user_pk(tenant: str, user_id: str) -> str:
    return f"T#{tenant}#U#{user_id}"


def user_sessions_gsi_pk(tenant: str, user_id: str, user_uuid: str) -> str:
    """A user's sessions in SessionsByUser, per incarnation of the user: a user deleted and created again under the
    same id is a new uuid, whose index partition never holds the old one's sessions. (The uuid has a fixed length and
    no '#', so no two users' keys can meet.)"""
    return f"T#{tenant}#US#{user_uuid}#{user_id}"


def parse_user_pk(pk: str) -> tuple[str, str] | None:
    """(tenant, user_id) of a user partition key, or None for any other key."""
    parts = pk.split("#", 3)
    if len(parts) != 4 or parts[0] != "T" or parts[2] != "U":
        return None
    return parts[1], parts[3]


def summary_history_sk(point_ts: int) -> str:
    return f"{SUMMARY_HISTORY_PREFIX}{point_ts:0{_TS_DIGITS}d}"


def changed_sk(changed_ts: int, suffix: str = "") -> str:
    """A change marker's sort key: when the change was made (microseconds), then what keeps two apart."""
    return f"{CHANGED_SK_PREFIX}{changed_ts:0{_TS_DIGITS}d}#{suffix}"


def ts_from_changed_sk(sk: str) -> int:
    """When the change a marker records was made (changed_sk)."""
    return int(sk.removeprefix(CHANGED_SK_PREFIX).partition("#")[0])


def api_key_pk(key_hash: str) -> str:
    """API keys are found by the SHA-256 of the key: the key itself is never stored."""
    return f"APIKEY#{key_hash}"


def idempotency_pk(tenant: str, digest: str) -> str:
    """An Idempotency-Key record's own partition: records never share one (no hot partition)."""
    return f"T#{tenant}#{IDEMPOTENCY_SK}#{digest}"


def tenant_settings_pk(tenant: str) -> str:
    return f"T#{tenant}#{SETTINGS_SK}"


def deletions_pk(tenant: str) -> str:
    """A tenant's deletion receipts: one partition, newest last (a purge writes one item per session)."""
    return f"T#{tenant}#DELETIONS"


def deletion_sk(deleted_ts: int, session_id: str) -> str:
    return created_sk(deleted_ts, session_id)


def index_bucket_prefix(bucket: int) -> str:
    return f"{INDEX_SK_PREFIX}{bucket:03d}#"


def index_bucket_sk(bucket: int, first_ts: int) -> str:
    """One term bucket of the sealed index block that starts at first_ts."""
    return f"{index_bucket_prefix(bucket)}{first_ts:0{_TS_DIGITS}d}"


def index_docs_sk(first_ts: int) -> str:
    """The message timestamps of the sealed index block that starts at first_ts."""
    return f"{INDEX_SK_PREFIX}{_INDEX_DOCS}#{first_ts:0{_TS_DIGITS}d}"


def index_block_of(sk: str) -> int:
    """The first_ts of the block an index item (bucket or docs) belongs to."""
    return int(sk.rsplit("#", 1)[1])
