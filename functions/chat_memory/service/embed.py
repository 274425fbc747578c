"""The embedder's use case: a message's embedding made by the model and kept with the message, once per text."""

from __future__ import annotations

from dataclasses import dataclass

from chat_memory.domain.models import Embedding, WrittenMessage
from chat_memory.domain.ports import EmbeddingStore, TextEmbedder
from chat_memory.service.semantic import quantize


@dataclass(frozen=True, slots=True)
class EmbedMessage:
    store: EmbeddingStore
    model: TextEmbedder

    def __call__(self, written: WrittenMessage) -> bool:
        """Embed the message as written; True if its embedding was stored, False if it needed none (already
        embedded by this model: e.g. a metadata change) or the text is no longer there (changed or deleted since:
        that change's own record embeds the new text). A model failure raises ModelUnavailableError (retried)."""
        if written.embedded_by == self.model.model:
            return False
        vector = quantize(self.model.embed(written.content, query=False))
        embedding = Embedding(model=self.model.model, vector=vector)
        return self.store.save_embedding(
            written.tenant, written.session_id, written.ts, written.content, embedding, written.stored_bytes
        )
