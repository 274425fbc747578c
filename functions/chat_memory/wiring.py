"""Composition root: builds the adapters and use cases once per warm container, on first use."""

from __future__ import annotations

from functools import cache

from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
from chat_memory.adapters.tokenizer import TiktokenCounter  # loads tiktoken only when first counting
from chat_memory.domain.ports import MemoryStore
from chat_memory.service.memory import AddMemory, DeleteMemory, GetMemory
from chat_memory.service.sessions import Sessions
from chat_memory.settings import get_settings


@cache
def memory_store() -> MemoryStore:
    return DynamoMemoryStore(get_settings().table_name)


@cache
def add_memory() -> AddMemory:
    return AddMemory(store=memory_store(), tokens=TiktokenCounter())


@cache
def get_memory() -> GetMemory:
    return GetMemory(store=memory_store(), default_window=get_settings().session_window)


@cache
def delete_memory() -> DeleteMemory:
    return DeleteMemory(store=memory_store())


@cache
def sessions() -> Sessions:
    return Sessions(store=memory_store())
