"""add_memory: one TransactWriteItems of the session item (condition: the version read) and its messages.

- a request's messages land all or none;
- timestamps are reserved past the session's `last_ts`, so `created_at` strictly increases in commit order,
  whatever the writers' clocks say;
- a caller's uuid is resolved against the committed state, so a retried request updates instead of duplicating;
- a message without a uuid gets one that carries its timestamp (message_ids.py): stored without `MsgUuid`, it
  costs no `MessagesByUuid` entry and is found by its key;
- an attempt that committed unanswered (a read timeout, then botocore's copy refused by the version check) is
  found by the uuids it gave its messages, and answered, not written a second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.changes import mark_changed
from chat_memory.adapters.dynamodb.embeddings import EMBEDDING_ATTRS
from chat_memory.adapters.dynamodb.errors import (
    attempts,
    is_retryable_write,
    is_unanswered,
    store_errors,
    was_resent,
)
from chat_memory.adapters.dynamodb.items import Item, SessionRecord, message_attributes, message_key_item, to_item
from chat_memory.adapters.dynamodb.message_ids import located_uuid
from chat_memory.adapters.dynamodb.messages import (
    METADATA_VERSION,
    UUID_CONDITION,
    UUID_NAMES,
    existing_message_sks,
    located_message,
)
from chat_memory.adapters.dynamodb.sessions import (
    checked_session_item,
    fresh_record,
    is_expired_record,
    read_session,
    retire_expired,
    versioned_session_put,
    with_expiry,
)
from chat_memory.adapters.dynamodb.sizes import ensure_item_fits, ensure_transaction_fits
from chat_memory.adapters.dynamodb.table import OnTable
from chat_memory.domain.errors import StoreUnavailableError
from chat_memory.domain.models import AddedMessage, CountedMessage, JsonObject, deep_merge
from chat_memory.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef


@dataclass
class _Unanswered:
    """The answers of attempts whose outcome we never heard (refused after botocore had resent them, or timed out):
    one of them may have committed. Finding an attempt's token on the session item, or the message it gave the
    probe's uuid at the timestamp it reserved, means it is in: its answer is the answer, not a second copy."""

    probe: int | None  # the first message without a caller's uuid: each attempt gives it its own uuid (ours)
    by_token: dict[str, list[AddedMessage]] = field(default_factory=dict)
    probed: list[list[AddedMessage]] = field(default_factory=list)

    def remember(self, token: str, added: list[AddedMessage]) -> None:
        self.by_token[token] = added
        if self.probe is not None:
            self.probed.append(added)

    def answer_on(self, record: SessionRecord | None) -> list[AddedMessage] | None:
        """The answer of the attempt that wrote this version of the session item, if it is one of ours."""
        if record is None or record.write_token is None:
            return None
        return self.by_token.get(record.write_token)


@dataclass
class _Writes:
    """The message actions of one attempt, the items as they will be stored (for DynamoDB's limits), the answer,
    and the timestamp the next new message would have had."""

    next_ts: int
    actions: list[TransactWriteItemTypeDef] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    added: list[AddedMessage] = field(default_factory=list)


def _next_record(
    existing: SessionRecord | None,
    session_id: str,
    now: int,
    metadata_patch: JsonObject | None,
    summary_instruction: str | None,
) -> SessionRecord:
    """The session as this request leaves it, before its messages are counted in."""
    if existing is None or existing.deleted:
        # Sessions are created by their first add_memory (Zep's semantics).
        return fresh_record(existing, session_id, now, None, metadata_patch or {}, summary_instruction)
    old = existing.session
    return replace(
        existing,
        session=replace(
            old,
            updated_ts=max(now, old.updated_ts),
            metadata=deep_merge(old.metadata, metadata_patch) if metadata_patch else old.metadata,
        ),
        summary_instruction=summary_instruction or existing.summary_instruction,
    )


def _message_writes(
    table: str, pk: str, messages: Sequence[CountedMessage], known: dict[str, str], next_ts: int
) -> _Writes:
    """A Put per new message (timestamps from `next_ts` on), an Update in place per caller's uuid already stored.
    A message without a caller's uuid gets ours, which carries its timestamp (message_ids.py)."""
    writes = _Writes(next_ts)
    for counted in messages:
        caller_uuid = counted.message.uuid
        updated = caller_uuid is not None and caller_uuid in known
        if caller_uuid is not None and updated:
            message_uuid, sk = caller_uuid, known[caller_uuid]
        else:
            message_uuid, sk = caller_uuid or located_uuid(writes.next_ts), keys.message_sk(writes.next_ts)
            writes.next_ts += 1
        attributes = message_attributes(counted)
        item = message_key_item(pk, keys.ts_from_message_sk(sk), message_uuid) | attributes
        writes.items.append(item)
        if updated:
            writes.actions.append(_update_message_action(table, pk, sk, message_uuid, attributes))
        else:
            writes.actions.append(
                {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}
            )
        ts = keys.ts_from_message_sk(sk)
        writes.added.append(AddedMessage(message_uuid, ts, counted.token_count, updated=updated))
    return writes


def _update_message_action(
    table: str, pk: str, sk: str, message_uuid: str, attributes: Item
) -> TransactWriteItemTypeDef:
    """Update a message in place (its position and created_at stay) when the caller re-sends its uuid."""
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    values: Item = {f":a{i}": value for i, value in enumerate(attributes.values())}
    values.update(to_item({":u": message_uuid, ":one": 1, ":zero": 0}))
    set_clause = ", ".join(f"#a{i} = :a{i}" for i in range(len(attributes)))
    # A new metadata version: a metadata PATCH that read the old one re-reads.
    set_clause += f", {METADATA_VERSION} = if_not_exists({METADATA_VERSION}, :zero) + :one"
    # The old text's embedding goes with it (the embedder makes the new one: the stream passes items without one).
    removed = [*EMBEDDING_ATTRS, *([] if "metadata" in attributes else ["metadata"])]
    remove_clause = f" REMOVE {', '.join(removed)}"
    return {
        "Update": {
            "TableName": table,
            "Key": to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: sk}),
            "UpdateExpression": f"SET {set_clause}{remove_clause}",
            "ConditionExpression": UUID_CONDITION,
            "ExpressionAttributeNames": names | UUID_NAMES,
            "ExpressionAttributeValues": values,
        }
    }


class DynamoAppends(OnTable):
    """add_memory of MemoryStore."""

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
        caller_uuids = [m.message.uuid for m in messages if m.message.uuid is not None]
        # The first message without a caller's uuid is the probe: an unanswered attempt is found by its uuid.
        unanswered = _Unanswered(probe=next((i for i, m in enumerate(messages) if m.message.uuid is None), None))
        marked: set[int] = set()  # messages this request's change markers named (changes.py)
        for attempt in attempts(self._table.retry_budget):
            existing = read_session(self._table, tenant, session_id)
            if (answer := unanswered.answer_on(existing)) is not None:
                return answer
            if existing is not None and is_expired_record(existing, self._table.clock()):
                # Past its retention period: deleted as a DELETE would, and this request starts a new incarnation.
                existing = retire_expired(self._table, tenant, existing)
                if existing is None:
                    continue
            now = self._table.clock()
            base = _next_record(existing, session_id, now, metadata_patch, summary_instruction)
            if (earlier := self._probed(tenant, session_id, unanswered, base.first_ts)) is not None:
                return earlier  # that attempt is in: its answer, not a second copy
            # One GetItem for each resent uuid of ours, one Query for each caller's own.
            known = existing_message_sks(self._table, tenant, session_id, caller_uuids, base.first_ts)
            changed = {keys.ts_from_message_sk(sk) for sk in known.values()} - marked
            mark_changed(self._table, tenant, session_id, changed)  # before the write: search re-reads them
            marked |= changed
            pk = keys.session_pk(tenant, session_id)
            writes = _message_writes(self._table.name, pk, messages, known, max(now, base.last_ts + 1))
            token = str(uuid.uuid4())
            grown = existing if metadata_patch or summary_instruction else None
            session_put = self._session_put(tenant, existing, base, writes, token, grown, retention_days)
            try:
                with store_errors():
                    # The token also makes botocore's own resend of this attempt (after a timeout) idempotent on
                    # AWS: a copy of a committed transaction succeeds without writing again (moto ignores it).
                    self._table.db.transact_write_items(
                        TransactItems=[{"Put": session_put}, *writes.actions], ClientRequestToken=token
                    )
            except ClientError as exc:
                if not is_retryable_write(exc):
                    raise
                if was_resent(exc):
                    # An earlier copy may have committed unanswered, and this refusal be its own version check.
                    unanswered.remember(token, writes.added)
                logger.debug("add_memory lost a race or was throttled; retrying", extra={"attempt": attempt})
                continue
            except StoreUnavailableError as exc:
                if not is_unanswered(exc):
                    raise
                unanswered.remember(token, writes.added)  # it may have committed: the next attempt looks
                logger.debug("add_memory got no answer; looking whether it committed", extra={"attempt": attempt})
                continue
            return writes.added
        # Out of time, but one last look: an attempt we never heard back from may be the one that is in.
        last_look = read_session(self._table, tenant, session_id) if unanswered.by_token else None
        if (answer := unanswered.answer_on(last_look)) is not None:
            return answer
        raise StoreUnavailableError("too many concurrent writes to this session, or the store is busy; retry shortly")

    def _probed(
        self, tenant: str, session_id: str, unanswered: _Unanswered, first_ts: int
    ) -> list[AddedMessage] | None:
        """The answer of an unanswered attempt whose probe message is stored with the uuid it gave it: one GetItem
        per such attempt, at the timestamp its probe's uuid carries."""
        if unanswered.probe is None:
            return None
        pk = keys.session_pk(tenant, session_id)
        for added in unanswered.probed:
            if located_message(self._table, pk, added[unanswered.probe].uuid, first_ts) is not None:
                return added
        return None

    def _session_put(
        self,
        tenant: str,
        existing: SessionRecord | None,
        base: SessionRecord,
        writes: _Writes,
        token: str,
        grown: SessionRecord | None,
        retention_days: int,
    ) -> PutTypeDef:
        """The session item of this attempt (its messages counted in), once every item fits DynamoDB's limits."""
        record = replace(
            base,
            version=(existing.version if existing else 0) + 1,
            last_ts=max(base.last_ts, writes.next_ts - 1),
            message_count=base.message_count + sum(not a.updated for a in writes.added),
            write_token=token,
        )
        record = with_expiry(record, retention_days)
        session_item = checked_session_item(tenant, record, grown)
        for stored in writes.items:
            ensure_item_fits(stored, "a message with its metadata")
        ensure_transaction_fits([session_item, *writes.items])
        return versioned_session_put(self._table.name, session_item, existing.version if existing else None)
