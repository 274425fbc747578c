"""`chat-memory export`: a tenant's users and live sessions as lines of the format, read a page at a time and
written as they are read (memory stays flat whatever the tenant holds). Deleted sessions and users are skipped, and
so are leftovers of a deleted incarnation of a session that the purger has not reached yet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.items import (
    SessionRecord,
    is_deleted,
    message_from_item,
    sort_key,
    summary_from_item,
    to_item,
    user_from_item,
    user_key,
)
from chat_memory.adapters.dynamodb.messages import messages_query
from chat_memory.adapters.dynamodb.sessions import live_session
from chat_memory.adapters.dynamodb.table import GSI1, Table
from chat_memory.domain.models import Position
from chat_memory_dev.cli_aws import CliError
from chat_memory_dev.transfer.format import (
    EndLine,
    FormatLine,
    Line,
    SessionEndLine,
    UserLine,
    dump_line,
    message_line,
    session_line,
    summary_line,
    user_line,
)
from chat_memory_dev.transfer.progress import Progress


@dataclass
class Totals:
    users: int = 0
    sessions: int = 0
    messages: int = 0


class Exporter:
    """The lines of one tenant's data on a table."""

    def __init__(self, table: Table, tenant: str) -> None:
        self.table = table
        self.tenant = tenant

    def users(self) -> Iterator[UserLine]:
        items = self.table.listing(keys.LIST_BY_TENANT_INDEX, GSI1, keys.users_gsi_pk(self.tenant), None, None)
        return (user_line(user_from_item(item)) for item in items)

    def user(self, user_id: str) -> UserLine | None:
        item = self.table.get(user_key(self.tenant, user_id))
        return user_line(user_from_item(item)) if item and not is_deleted(item) else None

    def sessions(self, after: Position | None) -> Iterator[SessionRecord]:
        """Live sessions in creation order (the ByTenant index), each read again consistently from its item."""
        partition = keys.sessions_gsi_pk(self.tenant)
        for item in self.table.listing(keys.LIST_BY_TENANT_INDEX, GSI1, partition, after, None):
            record = live_session(self.table, self.tenant, str(item["session_id"]["S"]))
            if record is not None:
                yield record

    def session(self, session_id: str) -> SessionRecord:
        record = live_session(self.table, self.tenant, session_id)
        if record is None:
            raise CliError(f"tenant {self.tenant!r} has no session {session_id!r}")
        return record

    def session_lines(self, record: SessionRecord) -> Iterator[Line]:
        """The session, its messages oldest first, its summaries (current, then the history), its end."""
        session_id = record.session.session_id
        yield session_line(record)
        messages = summaries = 0
        query = messages_query(self.table, self.tenant, session_id, record.first_ts, keys.LAST_TS)
        for item in self.table.items(query):
            messages += 1
            yield message_line(message_from_item(item))
        for item in self.table.items(self._summaries_query(session_id)):
            summary = summary_from_item(item)
            if summary.recent_message_ts >= record.first_ts:  # not a deleted incarnation's
                summaries += 1
                yield summary_line(summary, current=sort_key(item) == keys.CURRENT_SUMMARY_SK)
        yield SessionEndLine(session_id=session_id, messages=messages, summaries=summaries)

    def _summaries_query(self, session_id: str) -> dict[str, object]:
        bounds = {":lo": keys.CURRENT_SUMMARY_SK, ":hi": keys.summary_history_sk(keys.LAST_TS)}
        return {
            "TableName": self.table.name,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": to_item({":pk": keys.session_pk(self.tenant, session_id), **bounds}),
            "ConsistentRead": True,
        }


class Writer:
    """Lines out to a text stream, counted; flushed after every complete session (what --resume continues from)."""

    def __init__(self, out: TextIO, progress: Progress, totals: Totals | None = None) -> None:
        self.out = out
        self.progress = progress
        self.totals = totals or Totals()

    def write(self, line: Line) -> None:
        self.out.write(dump_line(line) + "\n")
        if isinstance(line, UserLine):
            self.totals.users += 1
        elif isinstance(line, SessionEndLine):
            self.totals.sessions += 1
            self.totals.messages += line.messages
            self.out.flush()
            self.progress.show(self.totals.sessions, self.totals.messages)

    def end(self) -> Totals:
        t = self.totals
        self.write(EndLine(users=t.users, sessions=t.sessions, messages=t.messages))
        self.out.flush()
        self.progress.done(t.sessions, t.messages)
        return t


def export_tenant(exporter: Exporter, writer: Writer, after: Position | None = None, *, fresh: bool = True) -> Totals:
    """The whole tenant (`fresh`: with the header and the users), or the sessions after `after` (a resume)."""
    if fresh:
        writer.write(FormatLine(tenant=exporter.tenant))
        for user in exporter.users():
            writer.write(user)
    for record in exporter.sessions(after):
        for line in exporter.session_lines(record):
            writer.write(line)
    return writer.end()


def export_session(exporter: Exporter, writer: Writer, session_id: str) -> Totals:
    """One session, with its user when it has one."""
    record = exporter.session(session_id)
    writer.write(FormatLine(tenant=exporter.tenant, session_id=session_id))
    user = exporter.user(record.session.user_id) if record.session.user_id else None
    if user is not None:
        writer.write(user)
    for line in exporter.session_lines(record):
        writer.write(line)
    return writer.end()
