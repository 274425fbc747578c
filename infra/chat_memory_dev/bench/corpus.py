"""The benchmark's conversation: deterministic (seeded) user/assistant turns of varied, realistic lengths.

Users mostly ask one to three sentences and now and then paste something long; assistants answer in one to four
paragraphs, sometimes with a list. Every history length is the *tail* of one conversation of 10,000 messages,
so the newest messages (what a window read returns) are the same at every length: only the length changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

SEED: Final = 20261126
CONVERSATION_MESSAGES: Final = 10_000

_VOCABULARY: Final = (
    "the a an of to and in for on with that this it is was be are can could would should will not but or "
    "if then when what which how why where who there their they we you your i my me our about from by as at "
    "memory summary session assistant user book author story novel future society question answer detail "
    "reason example travel plan budget weather recipe garden music film history science planet language "
    "database table query index partition key value item cost price month week morning evening trip train "
    "flight hotel museum city river mountain coffee dinner lunch meeting project deadline report draft email "
    "function error test deploy server request response latency cache limit size page token model prompt "
    "chapter character scene ending theme argument evidence source quote paragraph sentence word list step "
    "first second third next finally however because although instead also still already usually often "
    "good better best simple quick careful clear short long small large new old important useful possible"
)
_WORDS: Final = tuple(_VOCABULARY.split())
_OPENERS: Final = (
    "Sure, here is what I found.",
    "Good question.",
    "Here is a short overview.",
    "That depends on a few things.",
    "Let me break it down.",
    "Happy to help with that.",
)


@dataclass(frozen=True, slots=True)
class Turn:
    user: str
    assistant: str


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    end = "?" if rng.random() < 0.15 else "."
    return " ".join(words).capitalize() + end


def _paragraph(rng: random.Random, low: int, high: int) -> str:
    return " ".join(_sentence(rng, 6, 22) for _ in range(rng.randint(low, high)))


def _user(rng: random.Random) -> str:
    if rng.random() < 0.06:  # a pasted document, a log or a long explanation
        return _paragraph(rng, 2, 4) + "\n\n" + _paragraph(rng, 8, 25)
    return " ".join(_sentence(rng, 4, 18) for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))


def _assistant(rng: random.Random) -> str:
    parts = [rng.choice(_OPENERS)] if rng.random() < 0.5 else []
    for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
        parts.append(_paragraph(rng, 2, 6))
    if rng.random() < 0.2:
        parts.append("\n".join(f"- {_sentence(rng, 4, 12)}" for _ in range(rng.randint(3, 7))))
    return "\n\n".join(parts)


def _turns(rng: random.Random, count: int) -> list[Turn]:
    return [Turn(_user(rng), _assistant(rng)) for _ in range(count)]


def conversation(messages: int = CONVERSATION_MESSAGES, seed: int = SEED) -> list[Turn]:
    """The history every scenario takes its tail of: `messages // 2` turns."""
    return _turns(random.Random(seed), messages // 2)  # noqa: S311 - a reproducible corpus, no secret


def new_turns(count: int, seed: int = SEED) -> list[Turn]:
    """The turns appended during the measurements (another stream of the same generator)."""
    return _turns(random.Random(seed + 1), count)  # noqa: S311 - a reproducible corpus, no secret


def history(turns: list[Turn], messages: int) -> list[Turn]:
    """The newest `messages` messages (an even number) of a conversation, as turns."""
    if messages % 2 or messages // 2 > len(turns):
        raise ValueError(f"cannot take {messages} messages from a conversation of {len(turns) * 2}")
    return turns[len(turns) - messages // 2 :]
