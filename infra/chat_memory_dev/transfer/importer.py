"""`chat-memory import`: lines of the format written back to the table as the service stores them (uuids,
created_at, token counts and metadata kept; versions, counts and index keys set so the API works on them at once).

A session becomes visible only at its `session_end`: its messages and summaries are written first (BatchWriteItem)
and its session item last, conditionally. A session cut short (a malformed line, an interruption) has no session
item, so it reads as absent; its items are removed at once on an error, or before it is written again on the next
run. A session whose item is there with the same uuid is complete and is skipped: a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.items import (
    Item,
    SessionRecord,
    current_summary_item,
    from_item,
    history_summary_item,
    is_deleted,
    message_item,
    session_item,
    to_item,
    user_item,
    user_key,
)
from chat_memory.adapters.dynamodb.sessions import read_session
from chat_memory.adapters.dynamodb.sizes import ensure_item_fits
from chat_memory.adapters.dynamodb.table import BATCH_WRITE_SIZE, Table
from chat_memory.domain.errors import ChatMemoryError
from chat_memory.domain.models import CountedMessage, NewMessage
from chat_memory_dev.transfer.export import Totals
from chat_memory_dev.transfer.format import (
    EndLine,
    FormatError,
    FormatLine,
    Line,
    MessageLine,
    SessionEndLine,
    SessionLine,
    SummaryLine,
    UserLine,
)
from chat_memory_dev.transfer.progress import Progress

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

Numbered = tuple[str, Line]  # where the line is (`line 12`), the line


@dataclass
class _Session:
    """The session being imported: what is written so far, or nothing at all when it is skipped."""

    line: SessionLine
    skip: bool
    user_uuid: str | None = None
    messages: int = 0
    summaries: int = 0
    last_ts: int = -1
    pending: list[WriteRequestTypeDef] = field(default_factory=list)


class Importer:
    """Lines into one tenant of a table; `run` returns what was imported (skipped sessions are not counted)."""

    def __init__(self, table: Table, tenant: str, progress: Progress, *, header: bool = True) -> None:
        self.table = table
        self.tenant = tenant
        self.progress = progress
        self.expect_header = header
        self._framed = header  # an export: a `format` line first, an `end` line last
        self.totals = Totals()
        self.skipped = 0
        self._current: _Session | None = None
        self._ended = False

    def run(self, lines: Iterable[Numbered]) -> Totals:
        where = "the input"
        try:
            for where, line in lines:
                if self._in_order(where, line):
                    self._take(where, line)
        except (FormatError, ChatMemoryError):
            self._abandon()
            raise
        if self._current is not None or (self._framed and not self._ended):
            self._abandon()
            raise FormatError(f"{where}: the input ends before its `end` line (cut short?); complete sessions are in")
        self.progress.done(self.totals.sessions, self.totals.messages)
        return self.totals

    def _in_order(self, where: str, line: Line) -> bool:
        """FormatError for a line out of place; False for the header (nothing to write)."""
        if self.expect_header:
            self.expect_header = False
            if not isinstance(line, FormatLine):
                raise FormatError(f"{where}: the first line must be the `format` line")
            return False
        if self._ended:
            raise FormatError(f"{where}: nothing may follow the `end` line")
        inside = self._current is not None
        if isinstance(line, MessageLine | SummaryLine | SessionEndLine) and not inside:
            raise FormatError(f"{where}: a `{line.type}` line outside a session")
        if isinstance(line, FormatLine | UserLine | SessionLine | EndLine) and inside:
            raise FormatError(f"{where}: a `{line.type}` line inside session {self._current_id()!r} (no session_end)")
        return True

    def _current_id(self) -> str:
        return self._current.line.session_id if self._current else ""

    def _take(self, where: str, line: Line) -> None:
        if isinstance(line, UserLine):
            self._user(where, line)
        elif isinstance(line, SessionLine):
            self._begin(where, line)
        elif isinstance(line, MessageLine):
            self._message(where, line)
        elif isinstance(line, SummaryLine):
            self._summary(where, line)
        elif isinstance(line, SessionEndLine):
            self._end_session(where, line)
        elif isinstance(line, EndLine):
            self._ended = True
        else:
            raise FormatError(f"{where}: a second `format` line")

    # -- users ----------------------------------------------------------------------------------------------------

    def _user(self, where: str, line: UserLine) -> None:
        """A new user (or a new incarnation of a deleted one, as create_user does); the same user is kept."""
        item = user_item(self.tenant, line.to_domain(), version=1)
        ensure_item_fits(item, f"user {line.user_id!r}")
        written = self.table.write_if(
            self.table.db.put_item,
            Item=item,
            ConditionExpression="attribute_not_exists(PK) OR deleted = :yes",
            ExpressionAttributeValues=to_item({":yes": True}),
        )
        if written:
            self.totals.users += 1
            return
        existing = self.table.get(user_key(self.tenant, line.user_id))
        if existing is None or from_item(existing).get("uuid") != line.uuid:
            raise FormatError(f"{where}: tenant {self.tenant!r} has another user {line.user_id!r} already")

    # -- sessions -------------------------------------------------------------------------------------------------

    def _begin(self, where: str, line: SessionLine) -> None:
        existing = read_session(self.table, self.tenant, line.session_id)
        if existing is not None and not existing.deleted and existing.session.uuid == line.uuid:
            self._current = _Session(line, skip=True)  # imported before: complete
            return
        if existing is not None:
            state = "a deleted session of that id is still being purged" if existing.deleted else "another session"
            raise FormatError(f"{where}: session {line.session_id!r} exists in tenant {self.tenant!r} ({state})")
        self._remove_leftovers(line.session_id)  # of an earlier run cut short
        self._current = _Session(line, skip=False, user_uuid=self._user_uuid(line.user_id))

    def _user_uuid(self, user_id: str | None) -> str | None:
        """The incarnation of the session's user (its sessions' index partition), when that user lives here."""
        item = self.table.get(user_key(self.tenant, user_id)) if user_id else None
        return str(from_item(item)["uuid"]) if item and not is_deleted(item) else None

    def _message(self, where: str, line: MessageLine) -> None:
        session = self._session()
        ts = line.to_domain().ts
        if ts <= session.last_ts:
            raise FormatError(f"{where}: created_at must be later than the previous message's")
        session.last_ts = ts
        session.messages += 1
        if session.skip:
            return
        message = NewMessage(line.role, line.role_type, line.content, line.metadata, line.uuid)
        item = message_item(self._pk(), ts, line.uuid, CountedMessage(message, line.token_count))
        ensure_item_fits(item, f"{where}: the message with its metadata")
        self._put(item)

    def _summary(self, where: str, line: SummaryLine) -> None:
        session = self._session()
        session.summaries += 1
        if session.skip:
            return
        summary, pk = line.to_domain(), self._pk()
        item = current_summary_item(pk, summary, 1) if line.current else history_summary_item(pk, summary)
        ensure_item_fits(item, f"{where}: the summary")  # DynamoDB refuses an item over 400 KB; moto does not
        self._put(item)

    def _end_session(self, where: str, line: SessionEndLine) -> None:
        session = self._session()
        counted = (session.line.session_id, session.messages, session.summaries)
        if (line.session_id, line.messages, line.summaries) != counted:
            raise FormatError(f"{where}: session_end does not match the session's lines (id, messages, summaries)")
        if session.skip:
            self._current = None
            self.skipped += 1
            return
        self._flush()
        self._write_session_item(where, session)
        self._current = None
        self.totals.sessions += 1
        self.totals.messages += session.messages
        self.progress.show(self.totals.sessions, self.totals.messages)

    def _write_session_item(self, where: str, session: _Session) -> None:
        record = SessionRecord(
            session=session.line.to_domain(),
            version=1,
            last_ts=max(session.last_ts, 0),
            first_ts=0,
            deleted=False,
            summary_instruction=session.line.summary_instruction,
            message_count=session.messages,
            user_uuid=session.user_uuid,
        )
        item = session_item(self.tenant, record)
        ensure_item_fits(item, f"session {session.line.session_id!r} with its metadata")
        put = self.table.db.put_item
        if not self.table.write_if(put, Item=item, ConditionExpression="attribute_not_exists(PK)"):
            raise FormatError(f"{where}: session {session.line.session_id!r} was created meanwhile by someone else")

    # -- writing --------------------------------------------------------------------------------------------------

    def _session(self) -> _Session:
        assert self._current is not None  # _in_order saw to it
        return self._current

    def _pk(self) -> str:
        return keys.session_pk(self.tenant, self._current_id())

    def _put(self, item: Item) -> None:
        session = self._session()
        request: WriteRequestTypeDef = {"PutRequest": {"Item": item}}
        session.pending.append(request)
        if len(session.pending) >= BATCH_WRITE_SIZE:
            self._flush()

    def _flush(self) -> None:
        session = self._session()
        self.table.batch_write(session.pending)
        session.pending = []

    def _remove_leftovers(self, session_id: str) -> None:
        """Every item of the session's partition (there is no session item: they are an unfinished import's)."""
        query = {
            "TableName": self.table.name,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": to_item({":pk": keys.session_pk(self.tenant, session_id)}),
            "ProjectionExpression": "PK, SK",
            "ConsistentRead": True,
        }
        doomed: list[WriteRequestTypeDef] = []
        for item in self.table.items(query):
            doomed.append({"DeleteRequest": {"Key": {"PK": item["PK"], "SK": item["SK"]}}})
            if len(doomed) == BATCH_WRITE_SIZE:
                self.table.batch_write(doomed)
                doomed = []
        self.table.batch_write(doomed)

    def _abandon(self) -> None:
        """Leave nothing of the session being imported (it has no session item yet)."""
        session, self._current = self._current, None
        if session is not None and not session.skip:
            self._remove_leftovers(session.line.session_id)
