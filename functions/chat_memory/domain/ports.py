"""Ports: what the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final, Protocol

from chat_memory.domain.models import (
    AddedMessage,
    CountedMessage,
    Embedding,
    JsonObject,
    MessagePage,
    ModelSummary,
    Position,
    SearchableMessage,
    Session,
    Span,
    StoredMessage,
    Summary,
    SummaryState,
    User,
    UserChanges,
    Window,
)
from chat_memory.domain.retention import DeletionReason, DeletionReceipt
from chat_memory.domain.search_index import BuiltBlock, IndexHead, IndexHits, IndexState, SearchView


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


class MemoryStore(Protocol):
    def get_session(self, tenant: str, session_id: str) -> Session | None: ...

    def create_session(
        self, tenant: str, session_id: str, user: User | None, metadata: JsonObject, *, retention_days: int = 0
    ) -> Session:
        """`retention_days`: the tenant's period (0: for ever), unless the session's metadata sets its own."""
        ...

    def update_session(
        self,
        tenant: str,
        session_id: str,
        user: User | None,
        metadata_patch: JsonObject | None,
        *,
        retention_days: int = 0,
    ) -> Session: ...

    def list_sessions(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[Session]:
        """Sessions in creation order after `after`, read as they are taken; `read_ahead`: how many the caller means
        to take (the store's page size)."""
        ...

    def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: Sequence[CountedMessage],
        metadata_patch: JsonObject | None,
        summary_instruction: str | None,
        *,
        retention_days: int = 0,
    ) -> list[AddedMessage]: ...

    def read_window(self, tenant: str, session_id: str, limit: int, token_budget: int | None = None) -> Window | None:
        """The current summary and the newest `limit` messages; with `token_budget`, only the newest messages that
        fit in it with the current summary's tokens (never reading further: `cut_by_budget` says it stopped)."""
        ...

    def summary_before(self, tenant: str, session_id: str, before_ts: int, not_before_ts: int) -> Summary | None:
        """The newest summary whose point is in [not_before_ts, before_ts)."""
        ...

    def delete_session(self, tenant: str, session_id: str) -> bool:
        """Make the session unreadable at once (False when there is none); its items are purged later."""
        ...

    def message_page(
        self, tenant: str, session_id: str, skip: int, after: Position | None, read_ahead: int
    ) -> MessagePage | None:
        """The session's messages oldest first, after `after` (a message's position) or skipping `skip`."""
        ...

    def get_message(self, tenant: str, session_id: str, message_uuid: str) -> StoredMessage | None: ...

    def searchable_messages(
        self, tenant: str, session_id: str, span: Span = (None, None)
    ) -> list[SearchableMessage] | None:
        """The live session's messages, oldest first, for search: the newest as of this moment (a strongly
        consistent read), the older ones as an eventually consistent read finds them (with a `span`: at least
        those created within it; others may be left out); None: no such session."""
        ...

    def newest_matching(
        self,
        tenant: str,
        session_id: str,
        keep: Callable[[SearchableMessage], bool],
        limit: int,
        span: Span = (None, None),
    ) -> list[SearchableMessage] | None:
        """The live session's newest `limit` messages that `keep` accepts, newest first, read as
        searchable_messages reads them (within `span` as it reads within start_ts and end_ts) but newest first, no
        further than it takes; None: no such session."""
        ...

    def summary_history(self, tenant: str, session_id: str) -> list[Summary] | None:
        """Every summary of the live session's current incarnation, oldest first; None: no such session."""
        ...

    def update_message_metadata(
        self, tenant: str, session_id: str, message_uuid: str, metadata_patch: JsonObject
    ) -> StoredMessage | None: ...


class UserStore(Protocol):
    def create_user(self, tenant: str, user: User) -> User: ...

    def get_user(self, tenant: str, user_id: str) -> User | None: ...

    def update_user(self, tenant: str, user_id: str, changes: UserChanges) -> User | None: ...

    def list_users(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[User]: ...

    def user_sessions(
        self, tenant: str, user: User, after: Position | None, read_ahead: int | None
    ) -> Iterator[Session]:
        """The live sessions of this incarnation of the user (not those of a deleted user of the same id), oldest
        first, after `after`."""
        ...

    def delete_user(self, tenant: str, user_id: str) -> bool:
        """Make the user and all their sessions unreadable at once; the items are purged later."""
        ...


class Purger(Protocol):
    def purge_session(
        self,
        tenant: str,
        session_id: str,
        up_to_ts: int,
        version: int,
        reason: DeletionReason = DeletionReason.DELETE,
        deleted_ts: int = 0,
    ) -> int:
        """Delete a deleted session's items up to `up_to_ts`, then leave its receipt; returns how many were deleted."""
        ...

    def purge_expired(self, tenant: str, session_id: str, up_to_ts: int, expired_at: int) -> int:
        """Delete the items up to `up_to_ts` of a session whose item TTL removed, then leave its receipt."""
        ...

    def purge_user(self, tenant: str, user_id: str, user_uuid: str, version: int) -> int:
        """Bury any session of a deleted incarnation of a user that is still live, then its tombstone (unless the user
        was created again meanwhile); returns sessions buried."""
        ...


class DeletionLog(Protocol):
    def deletion_receipts(self, tenant: str, before: Position | None, read_ahead: int) -> Iterator[DeletionReceipt]:
        """The tenant's deletion receipts, newest first, older than `before` (a receipt's time and session id)."""
        ...


# -- perpetual memory --------------------------------------------------------------------------------------


class SummaryModel(Protocol):
    """Folds new conversation lines into a running summary."""

    name: str

    def summarise(self, previous: str | None, lines: Sequence[str], instruction: str | None) -> ModelSummary: ...


class SummaryStore(Protocol):
    def summary_state(self, tenant: str, session_id: str) -> SummaryState | None: ...

    def message_timestamps(
        self, tenant: str, session_id: str, after_ts: int, limit: int, newest_first: bool
    ) -> list[int]:
        """Timestamps of messages newer than `after_ts` (keys only): the oldest or the newest `limit`."""
        ...

    def messages_between(
        self, tenant: str, session_id: str, after_ts: int, before_ts: int, limit: int
    ) -> list[StoredMessage]:
        """Messages with after_ts < ts < before_ts, oldest first, at most `limit`."""
        ...

    def write_summary(self, tenant: str, session_id: str, summary: Summary, expected_version: int) -> bool:
        """Write `summary` as the current one if the current version is still `expected_version`."""
        ...


# -- dialog tools (Zep Cloud's synthesize_question and classify_session) -----------------------------------------


NO_CLASS: Final = "other"  # what a classification answers when none of the classes fits (Zep Cloud's word)


class DialogModel(Protocol):
    """Reads the end of a conversation: rewrites it as one standalone question, or picks a class for it."""

    name: str

    def question(self, messages: Sequence[StoredMessage]) -> str:
        """One standalone question that carries what these messages (oldest first, at least one) ask about."""
        ...

    def classify(self, messages: Sequence[StoredMessage], classes: Sequence[str], instruction: str | None) -> str:
        """One of `classes` for these messages (oldest first, at least one), or "other" when none fits."""
        ...


# -- semantic search --------------------------------------------------------------------------------------------


class TextEmbedder(Protocol):
    """Turns a text into a vector (Amazon Bedrock's embedding models)."""

    model: str

    def embed(self, text: str, *, query: bool) -> list[float]:
        """The text's embedding; `query`: a search's words rather than a stored message (some models differ)."""
        ...


class EmbeddingStore(Protocol):
    def save_embedding(
        self, tenant: str, session_id: str, ts: int, content: str, embedding: Embedding, stored_bytes: int
    ) -> bool:
        """Keep the embedding with the message at `ts` (stored as `stored_bytes`) if its content is still `content`;
        False if it is not (changed or deleted since), or if the item has no room left for it: nothing written."""
        ...


# -- the search index ---------------------------------------------------------------------------------------------


class SearchIndexStore(Protocol):
    """What search reads of a session with a term index (see domain/search_index.py)."""

    def search_view(self, tenant: str, session_id: str, span: Span = (None, None)) -> SearchView | None:
        """The newest messages and the index head (or, without a usable index, the whole session: of its older
        messages, at least those in `span`); None: no such session."""
        ...

    def postings(self, tenant: str, session_id: str, head: IndexHead, terms: Sequence[str]) -> IndexHits:
        """The postings in the head's blocks of the first `terms` (by priority) the store's budget allows (a term
        left out is absent), with the blocks' timestamps when the store reads them along."""
        ...

    def indexed_messages(
        self,
        tenant: str,
        session_id: str,
        head: IndexHead,
        wanted: Iterable[tuple[int, int]],
        timestamps: Mapping[int, Sequence[int]] | None = None,
    ) -> dict[tuple[int, int], SearchableMessage]:
        """The messages at (block first_ts, position in the block), at most 100 (located by `timestamps` when
        given: the IndexHits')."""
        ...

    def indexed_before(
        self, tenant: str, session_id: str, view: SearchView, instead_of: int
    ) -> list[SearchableMessage] | None:
        """Every indexed message before the view's run, oldest first, when the store reads them all for less than
        `instead_of` of them by position (and within the search's call budget); None: nothing read."""
        ...

    def room_for_more(self, *, timestamps: bool) -> bool:
        """Whether the search's call budget leaves room for one more `indexed_messages` (a filter's further
        candidates), with the blocks' `timestamps` given or not."""
        ...


class IndexStore(Protocol):
    """What the indexer reads and writes."""

    def index_state(self, tenant: str, session_id: str) -> IndexState | None:
        """The live session's incarnation and its stored index head; None: no live session."""
        ...

    def messages_from(self, tenant: str, session_id: str, first_ts: int, limit: int) -> list[StoredMessage]:
        """The oldest `limit` messages at or after first_ts (strongly consistent)."""
        ...

    def write_block(self, tenant: str, session_id: str, block: BuiltBlock, *, replace: bool) -> None: ...

    def save_head(self, tenant: str, session_id: str, head: IndexHead) -> bool:
        """Store the head if the stored one is still at `head.version`; False when another indexer got there."""
        ...
