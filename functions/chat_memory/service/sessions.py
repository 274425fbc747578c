"""Use cases of sessions and their messages: create, read, update, list, page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from chat_memory.domain.errors import InvalidInputError, found
from chat_memory.domain.models import JsonObject, MessagePage, Session, Start, StoredMessage, User
from chat_memory.domain.ports import DeletionLog, MemoryStore, UserStore
from chat_memory.domain.retention import DeletionReceipt, check_session_retention


@dataclass(frozen=True, slots=True)
class Sessions:
    store: MemoryStore
    users: UserStore

    def _user(self, tenant: str, user_id: str | None) -> User | None:
        if user_id is None:
            return None
        user = self.users.get_user(tenant, user_id)
        if user is None:
            raise InvalidInputError(f"user_id {user_id!r} names no user: create the user first")
        return user

    def create(
        self,
        tenant: str,
        session_id: str,
        user_id: str | None,
        metadata: JsonObject | None,
        *,
        retention_days: int = 0,
    ) -> Session:
        """`retention_days`: the tenant's period, for a session whose metadata sets none (0: for ever)."""
        check_session_retention(metadata)
        user = self._user(tenant, user_id)
        return self.store.create_session(tenant, session_id, user, metadata or {}, retention_days=retention_days)

    def get(self, tenant: str, session_id: str) -> Session:
        return found(self.store.get_session(tenant, session_id), f"session {session_id!r}")

    def update(
        self,
        tenant: str,
        session_id: str,
        user_id: str | None,
        metadata: JsonObject | None,
        *,
        retention_days: int = 0,
    ) -> Session:
        check_session_retention(metadata)
        user = self._user(tenant, user_id)
        return self.store.update_session(tenant, session_id, user, metadata, retention_days=retention_days)

    def list(self, tenant: str, start: Start) -> Iterator[Session]:
        """Oldest first, from `start`, read as they are taken: the caller takes what fits its answer."""
        found = self.store.list_sessions(tenant, start.after, start.offset + start.read_ahead)
        return islice(found, start.offset, None)


@dataclass(frozen=True, slots=True)
class Messages:
    store: MemoryStore

    def page(self, tenant: str, session_id: str, start: Start) -> MessagePage:
        page = self.store.message_page(tenant, session_id, start.offset, start.after, start.read_ahead)
        return found(page, f"session {session_id!r}")

    def get(self, tenant: str, session_id: str, message_uuid: str) -> StoredMessage:
        message = self.store.get_message(tenant, session_id, message_uuid)
        return found(message, f"message {message_uuid} of session {session_id!r}")

    def update_metadata(self, tenant: str, session_id: str, message_uuid: str, metadata: JsonObject) -> StoredMessage:
        message = self.store.update_message_metadata(tenant, session_id, message_uuid, metadata)
        return found(message, f"message {message_uuid} of session {session_id!r}")


@dataclass(frozen=True, slots=True)
class Deletions:
    """The tenant's deletion receipts (every purge leaves one), kept for RECEIPT_DAYS."""

    log: DeletionLog

    def list(self, tenant: str, start: Start) -> Iterator[DeletionReceipt]:
        """Newest first, older than `start.after` (a receipt's position), read as they are taken."""
        return self.log.deletion_receipts(tenant, start.after, start.read_ahead)
