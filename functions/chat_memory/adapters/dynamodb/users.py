"""The UserStore port: user items (one conditional write each) and a user's DELETE with their sessions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import attempts, is_retryable_write, store_errors
from chat_memory.adapters.dynamodb.items import (
    from_item,
    is_deleted,
    to_item,
    user_from_item,
    user_item,
    user_key,
)
from chat_memory.adapters.dynamodb.sessions import bury_session_action, bury_sessions, live_sessions
from chat_memory.adapters.dynamodb.sizes import ensure_item_fits, item_size
from chat_memory.adapters.dynamodb.table import GSI1, GSI2, OnTable
from chat_memory.domain.errors import ConflictError, StoreUnavailableError
from chat_memory.domain.models import Position, Session, User, UserChanges, deep_merge

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef

_TRANSACTION_SIZE = 100  # actions in one TransactWriteItems


class DynamoUsers(OnTable):
    """UserStore on the table."""

    def _get_user_item(self, tenant: str, user_id: str) -> Mapping[str, Any] | None:
        return self._table.get(user_key(tenant, user_id))

    def get_user(self, tenant: str, user_id: str) -> User | None:
        item = self._get_user_item(tenant, user_id)
        return user_from_item(item) if item and not is_deleted(item) else None

    def create_user(self, tenant: str, user: User) -> User:
        """A new user, or at once a new incarnation of a deleted one (even while its purge runs), in one conditional
        write: a new uuid, whose index partition of sessions never holds the old incarnation's."""
        new_item = user_item(tenant, user, version=1)
        ensure_item_fits(new_item, "the user with their metadata")
        written = self._table.write_if(
            self._table.db.put_item,
            Item=new_item,
            ConditionExpression="attribute_not_exists(PK) OR deleted = :yes",
            ExpressionAttributeValues=to_item({":yes": True}),
        )
        if not written:
            raise ConflictError(f"user {user.user_id!r} already exists")
        return user

    def update_user(self, tenant: str, user_id: str, changes: UserChanges) -> User | None:
        for _ in attempts(self._table.retry_budget):
            item = self._get_user_item(tenant, user_id)
            if item is None or is_deleted(item):
                return None
            old = user_from_item(item)
            user = replace(
                old,
                updated_ts=max(self._table.clock(), old.updated_ts),
                email=changes.email if changes.email is not None else old.email,
                first_name=changes.first_name if changes.first_name is not None else old.first_name,
                last_name=changes.last_name if changes.last_name is not None else old.last_name,
                metadata=deep_merge(old.metadata, changes.metadata) if changes.metadata else old.metadata,
            )
            version = int(from_item(item)["version"])
            new_item = user_item(tenant, user, version=version + 1)
            ensure_item_fits(new_item, f"user {user_id!r} with their metadata", before=item_size(item))
            written = self._table.write_if(
                self._table.db.put_item,
                Item=new_item,
                ConditionExpression="version = :v",
                ExpressionAttributeValues=to_item({":v": version}),
            )
            if not written:
                continue
            return user
        raise StoreUnavailableError("too many concurrent writes to this user; retry shortly")

    def list_users(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[User]:
        items = self._table.listing(keys.LIST_BY_TENANT_INDEX, GSI1, keys.users_gsi_pk(tenant), after, read_ahead)
        return (user_from_item(i) for i in items)

    def user_sessions(
        self, tenant: str, user: User, after: Position | None, read_ahead: int | None
    ) -> Iterator[Session]:
        """The live sessions of this incarnation of the user, oldest first, from the sparse SessionsByUser index."""
        partition = keys.user_sessions_gsi_pk(tenant, user.user_id, user.uuid)
        items = self._table.listing(keys.SESSIONS_BY_USER_INDEX, GSI2, partition, after, read_ahead)
        return live_sessions(items, self._table.clock())

    def delete_user(self, tenant: str, user_id: str) -> bool:
        """Tombstone the user and their sessions in one transaction: nothing of theirs is readable when this
        returns, and a function killed on the way leaves all of it readable or none. (Sessions past the first 99
        are tombstoned after the transaction; killed then, they stay readable until the purger sweeps.) The stream
        hands the tombstones to the purger, which deletes the items in the background and sweeps again for
        sessions the (eventually consistent) index had not shown yet."""
        for _ in attempts(self._table.retry_budget):
            item = self._get_user_item(tenant, user_id)
            if item is None or is_deleted(item):
                return False
            version = int(from_item(item)["version"])
            user = user_from_item(item)
            tombstone: PutTypeDef = {
                "TableName": self._table.name,
                "Item": user_item(tenant, user, version=version + 1, deleted=True),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": to_item({":v": version}),
            }
            session_ids = [s.session_id for s in self.user_sessions(tenant, user, None, None)]
            together = session_ids[: _TRANSACTION_SIZE - 1]
            now = self._table.clock()
            actions = [bury_session_action(self._table.name, tenant, sid, user, now) for sid in together]
            try:
                with store_errors():
                    self._table.db.transact_write_items(TransactItems=[{"Put": tombstone}, *actions])
            except ClientError as exc:
                # A session the index still showed was deleted or moved meanwhile: read again.
                if not is_retryable_write(exc):
                    raise
                continue
            bury_sessions(self._table, tenant, session_ids[len(together) :], (user.user_id, user.uuid))
            return True
        raise StoreUnavailableError("too many concurrent writes to this user, or the store is busy; retry shortly")
