"""The table's key layout. template.yaml declares the same names (a test checks they agree).

One table, items grouped by session:

| item     | PK                          | SK                       | indexes                                   |
|----------|-----------------------------|--------------------------|-------------------------------------------|
| session  | T#{tenant}#S#{session_id}   | SESSION                  | GSI1: T#{tenant}#SESSIONS / {created}#{id} |
| message  | T#{tenant}#S#{session_id}   | MSG#{ts:016d}            | LSI1: PK / MsgUuid                        |

`ts` is the message's created_at in microseconds. 'MSG#' sorts before 'SESSION', so one descending Query
between them returns the session item first and then the newest messages.
"""

from __future__ import annotations

from typing import Final

TABLE_PARTITION_KEY: Final = "PK"
TABLE_SORT_KEY: Final = "SK"

MESSAGE_UUID_INDEX: Final = "MessagesByUuid"  # LSI: strongly consistent lookups by message uuid
MESSAGE_UUID_ATTR: Final = "MsgUuid"

SESSIONS_BY_TENANT_INDEX: Final = "SessionsByTenant"  # GSI, sparse: live sessions only
GSI1_PARTITION_KEY: Final = "GSI1PK"
GSI1_SORT_KEY: Final = "GSI1SK"

TTL_ATTR: Final = "expires_at"

SESSION_SK: Final = "SESSION"
MESSAGE_SK_PREFIX: Final = "MSG#"
_TS_DIGITS: Final = 16  # microseconds since 1970 stay 16 digits until the year 2286


def session_pk(tenant: str, session_id: str) -> str:
    return f"T#{tenant}#S#{session_id}"


def message_sk(ts: int) -> str:
    return f"{MESSAGE_SK_PREFIX}{ts:0{_TS_DIGITS}d}"


def ts_from_message_sk(sk: str) -> int:
    return int(sk.removeprefix(MESSAGE_SK_PREFIX))


def sessions_gsi_pk(tenant: str) -> str:
    return f"T#{tenant}#SESSIONS"


def sessions_gsi_sk(created_ts: int, session_id: str) -> str:
    return f"{created_ts:0{_TS_DIGITS}d}#{session_id}"
