"""The DynamoDB store: every port (MemoryStore, UserStore, Purger, SummaryStore) on one table, its parts one job
each (see the README's data model):

- table.py: the shared Table (name, client, clock, retry budget) and its reads; errors.py: DynamoDB's errors, the
  write loops' attempts; items.py: items <-> domain objects; keys.py: the key layout; sizes.py: DynamoDB's limits;
- sessions.py: session items under their optimistic version, tombstones; appends.py: add_memory's transaction;
  messages.py: the window, message pages, a message's metadata; search.py: what search reads; users.py;
  summaries.py; purge.py; changes.py: change markers (search reads its writes); embeddings.py: on message items;
  index.py, index_codec.py, index_reads.py: search's term index (written by the indexer, read by search).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chat_memory.adapters.dynamodb.appends import DynamoAppends
from chat_memory.adapters.dynamodb.embeddings import DynamoEmbeddings
from chat_memory.adapters.dynamodb.errors import RETRY_BUDGET_SECONDS
from chat_memory.adapters.dynamodb.index import DynamoIndex
from chat_memory.adapters.dynamodb.purge import DynamoPurger
from chat_memory.adapters.dynamodb.search import DynamoSearch
from chat_memory.adapters.dynamodb.sessions import DynamoSessions
from chat_memory.adapters.dynamodb.summaries import DynamoSummaries
from chat_memory.adapters.dynamodb.table import Table, now_micros
from chat_memory.adapters.dynamodb.users import DynamoUsers

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoMemoryStore(
    DynamoSessions,
    DynamoAppends,
    DynamoSearch,
    DynamoUsers,
    DynamoSummaries,
    DynamoPurger,
    DynamoEmbeddings,
    DynamoIndex,
):
    """MemoryStore, UserStore, Purger, SummaryStore, EmbeddingStore, SearchIndexStore and IndexStore on one
    DynamoDB table (one object, so the use cases, the purger, the summariser, the embedder and the indexer of a
    process share one client, clock and retry budget)."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        clock: Callable[[], int] = now_micros,
        retry_budget_seconds: float = RETRY_BUDGET_SECONDS,
    ) -> None:
        super().__init__(Table(table_name, client, clock, retry_budget_seconds))

    def use_clock(self, clock: Callable[[], int]) -> None:
        """Tell time by `clock` (microseconds since the epoch) from now on: for tests that move time (retention)."""
        self._table.clock = clock
