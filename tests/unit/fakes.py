"""In-memory fakes of the ports, for unit tests of the use cases and of the HTTP edge (no AWS, no moto).

`InMemoryStore` keeps each tenant's sessions, messages and users in dicts and answers as the ports promise: listings
in creation order after a position, message pages oldest first, windows newest last, deletes at once.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from chat_memory.domain.models import (
    AddedMessage,
    CountedMessage,
    Embedding,
    JsonObject,
    MessagePage,
    Position,
    SearchableMessage,
    Session,
    Span,
    StoredMessage,
    Summary,
    User,
    UserChanges,
    Window,
    deep_merge,
)


class InMemoryStore:
    """A MemoryStore, a UserStore and an EmbeddingStore."""

    def __init__(self) -> None:
        self._clock = itertools.count(1_700_000_000_000_000)
        self.sessions: dict[tuple[str, str], Session] = {}
        self.messages: dict[tuple[str, str], list[StoredMessage]] = {}
        self.users: dict[tuple[str, str], User] = {}
        self.summaries: dict[tuple[str, str], list[Summary]] = {}
        self.embeddings: dict[tuple[str, str], dict[int, Embedding]] = {}  # by message ts

    def _now(self) -> int:
        return next(self._clock)

    # -- sessions

    def get_session(self, tenant: str, session_id: str) -> Session | None:
        return self.sessions.get((tenant, session_id))

    def create_session(
        self, tenant: str, session_id: str, user: User | None, metadata: JsonObject, *, retention_days: int = 0
    ) -> Session:
        now = self._now()
        session = Session(session_id, str(uuid.uuid4()), now, now, user.user_id if user else None, metadata)
        self.sessions[(tenant, session_id)] = session
        self.messages[(tenant, session_id)] = []
        return session

    def update_session(
        self,
        tenant: str,
        session_id: str,
        user: User | None,
        metadata_patch: JsonObject | None,
        *,
        retention_days: int = 0,
    ) -> Session:
        session = self.sessions.get((tenant, session_id)) or self.create_session(tenant, session_id, None, {})
        changed = replace(
            session,
            updated_ts=self._now(),
            user_id=user.user_id if user else session.user_id,
            metadata=deep_merge(session.metadata, metadata_patch or {}),
        )
        self.sessions[(tenant, session_id)] = changed
        return changed

    def list_sessions(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[Session]:
        listed = sorted((s for (t, _), s in self.sessions.items() if t == tenant), key=_created)
        return (s for s in listed if after is None or _created(s) > after)

    def delete_session(self, tenant: str, session_id: str) -> bool:
        self.messages.pop((tenant, session_id), None)
        return self.sessions.pop((tenant, session_id), None) is not None

    # -- messages

    def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: Sequence[CountedMessage],
        metadata_patch: JsonObject | None,
        summary_instruction: str | None,
        *,
        retention_days: int = 0,
    ) -> list[AddedMessage]:
        self.update_session(tenant, session_id, None, metadata_patch)
        stored = self.messages[(tenant, session_id)]
        added = []
        for counted in messages:
            new = counted.message
            message = StoredMessage(
                new.uuid or str(uuid.uuid4()), self._now(), new.role, new.role_type, new.content,
                counted.token_count, new.metadata,
            )  # fmt: skip
            stored.append(message)
            added.append(AddedMessage(message.uuid, message.ts, message.token_count, updated=False))
        return added

    def read_window(self, tenant: str, session_id: str, limit: int, token_budget: int | None = None) -> Window | None:
        session = self.get_session(tenant, session_id)
        if session is None:
            return None
        newest = self.messages[(tenant, session_id)][-limit:]
        if token_budget is None:
            return Window(session=session, messages=newest)
        kept: list[StoredMessage] = []
        for message in reversed(newest):
            if sum(m.token_count for m in kept) + message.token_count > token_budget:
                return Window(session=session, messages=kept[::-1], cut_by_budget=True)
            kept.append(message)
        return Window(session=session, messages=kept[::-1])

    def summary_before(self, tenant: str, session_id: str, before_ts: int, not_before_ts: int) -> Summary | None:
        return None

    def message_page(
        self, tenant: str, session_id: str, skip: int, after: Position | None, read_ahead: int
    ) -> MessagePage | None:
        if (tenant, session_id) not in self.sessions:
            return None
        stored = self.messages[(tenant, session_id)]
        later = [m for m in stored if after is None or m.ts > after.ts]
        return MessagePage(messages=iter(later[skip:]), total_count=len(stored))

    def searchable_messages(
        self, tenant: str, session_id: str, span: Span = (None, None)
    ) -> list[SearchableMessage] | None:
        if (tenant, session_id) not in self.sessions:
            return None
        embedded = self.embeddings.get((tenant, session_id), {})
        return [SearchableMessage(m, embedded.get(m.ts)) for m in self.messages[(tenant, session_id)]]

    def newest_matching(
        self,
        tenant: str,
        session_id: str,
        keep: Callable[[SearchableMessage], bool],
        limit: int,
        span: Span = (None, None),
    ) -> list[SearchableMessage] | None:
        messages = self.searchable_messages(tenant, session_id)
        return None if messages is None else [m for m in reversed(messages) if keep(m)][:limit]

    def summary_history(self, tenant: str, session_id: str) -> list[Summary] | None:
        return list(self.summaries.get((tenant, session_id), [])) if (tenant, session_id) in self.sessions else None

    def get_message(self, tenant: str, session_id: str, message_uuid: str) -> StoredMessage | None:
        return next((m for m in self.messages.get((tenant, session_id), []) if m.uuid == message_uuid), None)

    def update_message_metadata(
        self, tenant: str, session_id: str, message_uuid: str, metadata_patch: JsonObject
    ) -> StoredMessage | None:
        stored = self.messages.get((tenant, session_id), [])
        for index, message in enumerate(stored):
            if message.uuid == message_uuid:
                stored[index] = replace(message, metadata=deep_merge(message.metadata or {}, metadata_patch))
                return stored[index]
        return None

    # -- users

    def create_user(self, tenant: str, user: User) -> User:
        self.users[(tenant, user.user_id)] = user
        return user

    def get_user(self, tenant: str, user_id: str) -> User | None:
        return self.users.get((tenant, user_id))

    def update_user(self, tenant: str, user_id: str, changes: UserChanges) -> User | None:
        user = self.users.get((tenant, user_id))
        if user is None:
            return None
        changed = replace(
            user,
            updated_ts=self._now(),
            email=changes.email if changes.email is not None else user.email,
            first_name=changes.first_name if changes.first_name is not None else user.first_name,
            last_name=changes.last_name if changes.last_name is not None else user.last_name,
            metadata=deep_merge(user.metadata, changes.metadata or {}),
        )
        self.users[(tenant, user_id)] = changed
        return changed

    def list_users(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[User]:
        listed = sorted((u for (t, _), u in self.users.items() if t == tenant), key=_created)
        return (u for u in listed if after is None or _created(u) > after)

    def user_sessions(
        self, tenant: str, user: User, after: Position | None, read_ahead: int | None
    ) -> Iterator[Session]:
        return (s for s in self.list_sessions(tenant, after, 0) if s.user_id == user.user_id)

    def delete_user(self, tenant: str, user_id: str) -> bool:
        for session in list(self.user_sessions(tenant, User(user_id, "", 0, 0), None, None)):
            self.delete_session(tenant, session.session_id)
        return self.users.pop((tenant, user_id), None) is not None

    # -- embeddings

    def save_embedding(
        self, tenant: str, session_id: str, ts: int, content: str, embedding: Embedding, stored_bytes: int
    ) -> bool:
        message = next((m for m in self.messages.get((tenant, session_id), []) if m.ts == ts), None)
        if message is None or message.content != content:
            return False
        self.embeddings.setdefault((tenant, session_id), {})[ts] = embedding
        return True


def _created(item: Session | User) -> Position:
    return Position(item.created_ts, item.session_id if isinstance(item, Session) else item.user_id)
