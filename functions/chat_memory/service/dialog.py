"""Zep Cloud's dialog tools: a standalone question from the end of a session, and a session's class among given
ones (kept in the session's metadata when asked). The model behind them is a port: Bedrock or the offline one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chat_memory.domain.errors import InvalidInputError, found
from chat_memory.domain.models import StoredMessage
from chat_memory.domain.ports import NO_CLASS, DialogModel, MemoryStore

# Where a persisted classification lives in the session's metadata: metadata.system.classes.<name> (Zep Cloud's).
SYSTEM_KEY: Final = "system"
CLASSES_KEY: Final = "classes"


@dataclass(frozen=True, slots=True)
class Classification:
    """A classify_session request: `name` labels the result (its key in the metadata), `classes` are the choices."""

    name: str
    classes: Sequence[str]
    last_n: int
    persist: bool = True
    instruction: str | None = None


@dataclass(frozen=True, slots=True)
class ClassifiedSession:
    name: str
    class_: str


def _newest(store: MemoryStore, tenant: str, session_id: str, last_n: int) -> list[StoredMessage]:
    """The session's newest `last_n` messages, oldest first; 404 without the session, 400 without messages."""
    window = found(store.read_window(tenant, session_id, last_n), f"session {session_id!r}")
    if not window.messages:
        raise InvalidInputError(f"session {session_id!r} has no messages yet: add memory first")
    return window.messages


@dataclass(frozen=True, slots=True)
class SynthesizeQuestion:
    store: MemoryStore
    model: DialogModel

    def __call__(self, tenant: str, session_id: str, last_n: int) -> str:
        return self.model.question(_newest(self.store, tenant, session_id, last_n))


def _check_classes(classes: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for given in classes:
        if not given.strip():
            raise InvalidInputError("a class must not be empty or blank")
        folded = " ".join(given.split()).casefold()
        if folded in seen:
            raise InvalidInputError(f"classes {seen[folded]!r} and {given!r} are the same class: name each once")
        seen[folded] = given


@dataclass(frozen=True, slots=True)
class ClassifySession:
    store: MemoryStore
    model: DialogModel

    def __call__(
        self, tenant: str, session_id: str, request: Classification, *, retention_days: int = 0
    ) -> ClassifiedSession:
        if not request.name.strip():
            raise InvalidInputError("name must not be empty or blank")
        _check_classes(request.classes)
        messages = _newest(self.store, tenant, session_id, request.last_n)
        chosen = self.model.classify(messages, request.classes, request.instruction)
        if chosen not in request.classes:
            chosen = NO_CLASS
        if request.persist:
            patch = {SYSTEM_KEY: {CLASSES_KEY: {request.name: chosen}}}
            self.store.update_session(tenant, session_id, None, patch, retention_days=retention_days)
        return ClassifiedSession(request.name, chosen)
