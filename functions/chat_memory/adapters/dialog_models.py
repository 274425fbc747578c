"""Dialog models behind the DialogModel port: Amazon Bedrock (Converse), and an offline lexical one that says
plainly what it does (no model, no network)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Final

from botocore.config import Config

from chat_memory import deadline
from chat_memory.adapters.bedrock import ConverseError, bedrock_client, converse
from chat_memory.domain.errors import ModelUnavailableError
from chat_memory.domain.models import RoleType, StoredMessage
from chat_memory.domain.ports import NO_CLASS
from chat_memory.observability import logger
from chat_memory.service.ranking import Doc, rank, tokens

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

# -- offline -----------------------------------------------------------------------------------------------------

MAX_SUBJECT_CHARS: Final = 1_000  # of the user's words quoted in an offline question
MAX_CONTEXT_NAMES: Final = 5
# A sentence: from a non-space to a stop that ends a word (so "$129.99" stays whole), or to the end.
_SENTENCE: Final = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)", re.S)
# A name: capitalised words, with the numbers that go with them ("Adidas Ultraboost 21"), or an amount ("$129.99").
_APOSTROPHES: Final = "'\u2019"
_NAME: Final = re.compile(
    rf"\$\d[\d,]*(?:\.\d+)?|[A-Z][\w{_APOSTROPHES}-]*(?:\s+(?:[A-Z][\w{_APOSTROPHES}-]*|\d[\d.,]*\b))*"
)
_OPENING_QUOTES: Final = "\"'\u201c\u2018("


def _names(text: str) -> list[str]:
    """Names in a text, in order: capitalised words (less the stop words they start with: "The", "I'm") that are not
    just a sentence's first word, and amounts."""
    found: list[str] = []
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group()
        start = len(body) - len(body.lstrip(_OPENING_QUOTES)) + sentence.start()
        for match in _NAME.finditer(text, sentence.start(), sentence.end()):
            words = match.group().split()
            if match.start() == start and len(words) == 1:
                continue  # "Great, ...", "Brooks ...": capitalised because it starts the sentence
            while words and not tokens(words[0]):
                words.pop(0)
            if words:
                found.append(" ".join(words))
    return found


def _subject(messages: Sequence[StoredMessage]) -> list[StoredMessage]:
    """The user's last words: the trailing run of user messages (else the newest message)."""
    run: list[StoredMessage] = []
    for message in reversed(messages):
        if message.role_type is not RoleType.USER:
            break
        run.insert(0, message)
    return run or [messages[-1]]


def _context_names(earlier: Sequence[StoredMessage], subject: str) -> list[str]:
    """Names from the earlier messages, newest first, that the subject does not already say."""
    chosen: list[str] = []
    said = subject.casefold()
    for message in reversed(earlier):
        for name in _names(message.content):
            folded = name.casefold()
            if folded in said or any(folded in c.casefold() or c.casefold() in folded for c in chosen):
                continue
            chosen.append(name)
            if len(chosen) == MAX_CONTEXT_NAMES:
                return chosen
    return chosen


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SUBJECT_CHARS else text[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"


class LexicalDialogModel:
    """Deterministic, offline. The question is the user's own last words, not a rewrite: the question sentences of
    the trailing user messages (else the whole of them, as "What about this: ...?"), followed by the names that the
    earlier messages of the window mention and the question does not (capitalised words and amounts, newest first,
    at most 5) as "(context: ...)". The class is the one whose words the messages share most, as search ranks
    (BM25 over the classes, the messages as the query); "other" when no class shares a word; the instruction is not
    used (only a model can follow it)."""

    name = "lexical"

    def question(self, messages: Sequence[StoredMessage]) -> str:
        subject = _subject(messages)
        earlier = messages[: len(messages) - len(subject)]
        text = _clip(" ".join(m.content for m in subject))
        asked = " ".join(s.group().strip() for s in _SENTENCE.finditer(text) if s.group().strip().endswith("?"))
        names = _context_names(earlier, text)
        context = f" (context: {', '.join(names)})" if names else ""
        if asked:
            return f"{asked.rstrip('?').rstrip()}{context}?"
        return f"What about this: {text.rstrip('.!').rstrip() or '(nothing said)'}{context}?"

    def classify(self, messages: Sequence[StoredMessage], classes: Sequence[str], instruction: str | None) -> str:
        docs = [Doc(f"{i:06d}", name, "", 0) for i, name in enumerate(classes)]  # ties: the class listed first
        best = rank(" ".join(m.content for m in messages), docs, 1, turns=False)
        return classes[int(best[0][0].key)] if best else NO_CLASS


# -- Amazon Bedrock ----------------------------------------------------------------------------------------------

# One attempt within the HTTP functions' 10 s: connect 2 s + read 6 s, and not started with less than that left.
CALL_SECONDS: Final = 8.0
QUESTION_MAX_TOKENS: Final = 256
CLASS_MAX_TOKENS: Final = 16
QUESTION_SYSTEM_PROMPT: Final = (
    "You read the end of a conversation between a user and an AI assistant. Write one standalone question that "
    "carries what the user's last messages ask about, with every name, number and detail from the earlier "
    "messages that it refers to, so that it can be understood (or used as a search query) without the "
    "conversation. Reply with the question only, without any preamble."
)
CLASSIFY_SYSTEM_PROMPT: Final = (
    "You classify a conversation between a user and an AI assistant. You are given the conversation and a "
    "numbered list of classes. Reply with the number of the one class that fits the conversation best, or 0 if "
    "none of them fits. Reply with the number only."
)
_NUMBER: Final = re.compile(r"\d+")


def conversation(messages: Sequence[StoredMessage]) -> str:
    lines = [f"{m.role or m.role_type.value} ({m.role_type.value}): {m.content}" for m in messages]
    return "\n".join(["<conversation>", *lines, "</conversation>"])


def classify_prompt(messages: Sequence[StoredMessage], classes: Sequence[str], instruction: str | None) -> str:
    numbered = [f"{i}. {name}" for i, name in enumerate(classes, start=1)]
    parts = [conversation(messages), "<classes>", *numbered, "</classes>"]
    if instruction:
        parts += ["<instruction>", instruction, "</instruction>"]
    return "\n".join(parts)


class BedrockDialogModel:
    """Bedrock's Converse on the request path: one attempt (no retry that could outlast the function), temperature
    0; a failure or a slow model is a 503 with Retry-After, never a made-up answer."""

    name = "bedrock"

    def __init__(self, model_id: str, region: str | None) -> None:
        self._model_id = model_id
        self._region = region or None

    @cached_property
    def _client(self) -> BedrockRuntimeClient:
        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=6)
        return bedrock_client(self._region, config)

    def _ask(self, system: str, prompt: str, max_tokens: int) -> str:
        if not deadline.allows(CALL_SECONDS):
            raise ModelUnavailableError("no time left for the language model in this request; retry", 1)
        try:
            return converse(self._client, self._model_id, system, prompt, max_tokens).text
        except ConverseError as exc:
            logger.warning("dialog model failed", extra={"model_id": self._model_id, "reason": str(exc)})
            raise ModelUnavailableError("the language model is unavailable or busy; retry later", 2) from exc

    def question(self, messages: Sequence[StoredMessage]) -> str:
        return self._ask(QUESTION_SYSTEM_PROMPT, conversation(messages), QUESTION_MAX_TOKENS)

    def classify(self, messages: Sequence[StoredMessage], classes: Sequence[str], instruction: str | None) -> str:
        answer = self._ask(CLASSIFY_SYSTEM_PROMPT, classify_prompt(messages, classes, instruction), CLASS_MAX_TOKENS)
        number = _NUMBER.search(answer)
        chosen = int(number.group()) if number else 0
        if not 1 <= chosen <= len(classes):
            if number is None:
                logger.warning("dialog model answered no class number", extra={"model_id": self._model_id})
            return NO_CLASS
        return classes[chosen - 1]
