"""Use cases of users: create, read, update, list, their sessions, and forgetting a user."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from chat_memory.domain.errors import NotFoundError, found
from chat_memory.domain.models import JsonObject, Position, Session, Start, User, UserChanges
from chat_memory.domain.ports import UserStore


def _now_micros() -> int:
    return time.time_ns() // 1_000


@dataclass(frozen=True)
class Users:
    store: UserStore
    clock: Callable[[], int] = _now_micros

    def create(
        self,
        tenant: str,
        user_id: str,
        email: str | None,
        first_name: str | None,
        last_name: str | None,
        metadata: JsonObject | None,
    ) -> User:
        now = self.clock()
        user = User(
            user_id=user_id,
            uuid=str(uuid.uuid4()),
            created_ts=now,
            updated_ts=now,
            email=email,
            first_name=first_name,
            last_name=last_name,
            metadata=metadata or {},
        )
        return self.store.create_user(tenant, user)

    def get(self, tenant: str, user_id: str) -> User:
        return found(self.store.get_user(tenant, user_id), f"user {user_id!r}")

    def update(self, tenant: str, user_id: str, changes: UserChanges) -> User:
        return found(self.store.update_user(tenant, user_id, changes), f"user {user_id!r}")

    def list(self, tenant: str, start: Start) -> Iterator[User]:
        """Oldest first, from `start`, read as they are taken: the caller takes what fits its answer."""
        found = self.store.list_users(tenant, start.after, start.offset + start.read_ahead)
        return islice(found, start.offset, None)

    def sessions(self, tenant: str, user_id: str, after: Position | None, read_ahead: int | None) -> Iterator[Session]:
        return self.store.user_sessions(tenant, self.get(tenant, user_id), after, read_ahead)

    def delete(self, tenant: str, user_id: str) -> None:
        if not self.store.delete_user(tenant, user_id):
            raise NotFoundError(f"user {user_id!r} not found")
