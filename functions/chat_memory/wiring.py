"""Composition root: builds the adapters and use cases once per warm container, on first use.

Each factory imports what it builds: a function loads only the adapters and use cases its routes reach (cold
starts are on the chat's critical path; the authorizer, say, never loads pydantic's request models or Bedrock).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
    from chat_memory.adapters.dynamodb.idempotency import IdempotencyRecords
    from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
    from chat_memory.adapters.dynamodb.tenant_settings import TenantSettingsStore
    from chat_memory.api.http import Middleware
    from chat_memory.domain.ports import DialogModel, MemoryStore, Purger, SummaryModel, TextEmbedder
    from chat_memory.service.dialog import ClassifySession, SynthesizeQuestion
    from chat_memory.service.embed import EmbedMessage
    from chat_memory.service.indexer import IndexSession
    from chat_memory.service.memory import AddMemory, DeleteMemory, GetMemory
    from chat_memory.service.search import SearchMemory
    from chat_memory.service.sessions import Deletions, Messages, Sessions
    from chat_memory.service.summarise import SummariseSession
    from chat_memory.service.users import Users

T = TypeVar("T")
_FACTORIES: list[Any] = []  # every cached factory below: reset() forgets them all


def _factory(build: Callable[[], T]) -> Callable[[], T]:
    """Build once per warm container, on first use; remembered for reset()."""
    cached = cache(build)
    _FACTORIES.append(cached)
    return cached


@_factory
def dynamo_store() -> DynamoMemoryStore:
    from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
    from chat_memory.settings import get_settings

    settings = get_settings()
    if settings.write_retry_budget_seconds is None:
        return DynamoMemoryStore(settings.table_name)
    return DynamoMemoryStore(settings.table_name, retry_budget_seconds=settings.write_retry_budget_seconds)


@_factory
def memory_store() -> MemoryStore:
    return dynamo_store()


@_factory
def add_memory() -> AddMemory:
    from chat_memory.adapters.tokenizer import TiktokenCounter  # loads tiktoken only when first counting
    from chat_memory.service.memory import AddMemory

    return AddMemory(store=memory_store(), tokens=TiktokenCounter())


@_factory
def get_memory() -> GetMemory:
    from chat_memory.service.memory import GetMemory
    from chat_memory.settings import get_settings

    return GetMemory(store=memory_store(), default_window=get_settings().session_window)


@_factory
def delete_memory() -> DeleteMemory:
    from chat_memory.service.memory import DeleteMemory

    return DeleteMemory(store=memory_store())


def _embedder(*, patient: bool) -> TextEmbedder | None:
    from chat_memory.settings import get_embedding_settings

    config = get_embedding_settings()
    if not config.model_id:
        return None
    from chat_memory.adapters.embedders import BedrockTextEmbedder

    return BedrockTextEmbedder(config.model_id, config.model_region, patient=patient)


@_factory
def query_embedder() -> TextEmbedder | None:
    """The model that embeds a search's words (quick to give up: search then ranks lexically); None: off."""
    return _embedder(patient=False)


@_factory
def search_memory() -> SearchMemory:
    from chat_memory.service.search import SearchMemory

    return SearchMemory(store=memory_store(), embedder=query_embedder(), index=dynamo_store())


@_factory
def index_session() -> IndexSession:
    from chat_memory.service.indexer import IndexSession

    return IndexSession(store=dynamo_store())


@_factory
def message_embedder() -> TextEmbedder:
    """The model that embeds stored messages (the embedder function: only deployed with a model)."""
    from chat_memory.settings import SettingsError

    embedder = _embedder(patient=True)
    if embedder is None:
        raise SettingsError("the embedder needs EMBEDDING_MODEL_ID")
    return embedder


@_factory
def embed_message() -> EmbedMessage:
    from chat_memory.service.embed import EmbedMessage

    return EmbedMessage(store=dynamo_store(), model=message_embedder())


@_factory
def sessions() -> Sessions:
    from chat_memory.service.sessions import Sessions

    return Sessions(store=memory_store(), users=dynamo_store())


@_factory
def messages() -> Messages:
    from chat_memory.service.sessions import Messages

    return Messages(store=memory_store())


@_factory
def deletions() -> Deletions:
    from chat_memory.service.sessions import Deletions

    return Deletions(log=dynamo_store())


@_factory
def users() -> Users:
    from chat_memory.service.users import Users

    return Users(store=dynamo_store())


@_factory
def purger() -> Purger:
    return dynamo_store()


@_factory
def summary_model() -> SummaryModel:
    from chat_memory.adapters.summarisers import BedrockSummaryModel, ExtractiveSummaryModel
    from chat_memory.adapters.tokenizer import TiktokenCounter
    from chat_memory.settings import get_summary_settings

    config = get_summary_settings()
    if config.model_id:
        return BedrockSummaryModel(config.model_id, config.model_region, config.max_summary_tokens)
    return ExtractiveSummaryModel(TiktokenCounter(), config.max_summary_tokens)


@_factory
def summarise_session() -> SummariseSession:
    from chat_memory.adapters.tokenizer import TiktokenCounter
    from chat_memory.service.summarise import SummariseSession
    from chat_memory.settings import get_settings, get_summary_settings

    return SummariseSession(
        store=dynamo_store(),
        model=summary_model(),
        tokens=TiktokenCounter(),
        window=get_settings().session_window,
        max_input_tokens=get_summary_settings().max_input_tokens,
    )


@_factory
def dialog_model() -> DialogModel:
    """The summariser's model (SUMMARY_MODEL_ID) when one is configured, else the offline lexical one."""
    from chat_memory.adapters.dialog_models import BedrockDialogModel, LexicalDialogModel
    from chat_memory.settings import get_summary_settings

    config = get_summary_settings()
    if config.model_id:
        return BedrockDialogModel(config.model_id, config.model_region)
    return LexicalDialogModel()


@_factory
def synthesize_question() -> SynthesizeQuestion:
    from chat_memory.service.dialog import SynthesizeQuestion

    return SynthesizeQuestion(store=memory_store(), model=dialog_model())


@_factory
def classify_session() -> ClassifySession:
    from chat_memory.service.dialog import ClassifySession

    return ClassifySession(store=memory_store(), model=dialog_model())


@_factory
def api_keys() -> ApiKeyStore:
    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
    from chat_memory.settings import get_settings

    return ApiKeyStore(get_settings().table_name)


@_factory
def tenant_settings() -> TenantSettingsStore:
    from chat_memory.adapters.dynamodb.tenant_settings import TenantSettingsStore
    from chat_memory.settings import get_settings

    return TenantSettingsStore(get_settings().table_name)


@_factory
def idempotency_records() -> IdempotencyRecords:
    from chat_memory.adapters.dynamodb.client import dynamodb_client
    from chat_memory.adapters.dynamodb.idempotency import IdempotencyRecords
    from chat_memory.settings import get_settings

    return IdempotencyRecords(get_settings().table_name, dynamodb_client())


def http_middlewares(*, writes: bool) -> list[Middleware]:
    """The layers around every route, outermost first: the request's scope (deadline, consumed capacity), and for
    the writing functions the Idempotency-Key. (Reads never load Powertools' idempotency utility.)"""
    from chat_memory.adapters.dynamodb.consumed import measure
    from chat_memory.api.http import capacity_scope

    layers = [capacity_scope(measure)]
    if writes:
        from chat_memory.adapters.dynamodb.idempotency import IdempotencyRecords
        from chat_memory.api.idempotency import idempotent_writes

        layers.append(idempotent_writes(idempotency_records, IdempotencyRecords.key_prefix))
    return layers


def reset() -> None:
    """Forget every client, setting and use case cached for warm invocations: for tests and tools that point
    the same process at another DynamoDB (each moto backend needs clients created after it starts)."""
    from chat_memory.adapters.dynamodb.client import dynamodb_client
    from chat_memory.settings import get_embedding_settings, get_settings, get_summary_settings

    for cached in (dynamodb_client, get_settings, get_summary_settings, get_embedding_settings, *_FACTORIES):
        cached.cache_clear()
