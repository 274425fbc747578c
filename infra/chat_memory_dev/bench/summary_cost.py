"""Model tokens per summarised message: `python -m chat_memory_dev.bench.summary_cost`.

Runs the real summariser (the same use case and prompt as with Bedrock) over a deterministic conversation on an
in-process moto table, summarising after every turn as the stream would. The model is a stand-in that counts
the prompt in cl100k tokens (Bedrock's own tokenizers differ by a few per cent) and answers with a summary
as long as the configured maximum, so output tokens are an upper bound.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence

from chat_memory.adapters.summarisers import SYSTEM_PROMPT, ExtractiveSummaryModel, summary_prompt
from chat_memory.adapters.tokenizer import TiktokenCounter
from chat_memory.domain.models import CountedMessage, ModelSummary, NewMessage, RoleType

_WORDS = (
    "memory",
    "summary",
    "session",
    "assistant",
    "user",
    "book",
    "author",
    "story",
    "novel",
    "future",
    "society",
    "question",
    "answer",
    "detail",
    "reason",
    "example",
    "travel",
    "plan",
    "budget",
    "weather",
    "recipe",
    "garden",
    "music",
    "film",
    "history",
    "science",
    "planet",
    "language",
)


class PromptCountingModel:
    """Counts what a Bedrock call would send; answers with a summary of `max_tokens` (an upper bound)."""

    name = "prompt-counting"

    def __init__(self, tokens: TiktokenCounter, max_tokens: int) -> None:
        self._tokens = tokens
        self._inner = ExtractiveSummaryModel(tokens, max_tokens)
        self._max_tokens = max_tokens
        self.filler = " ".join(_WORDS)

    def summarise(self, previous: str | None, lines: Sequence[str], instruction: str | None) -> ModelSummary:
        prompt_tokens = self._tokens.count(SYSTEM_PROMPT) + self._tokens.count(
            summary_prompt(previous, lines, instruction)
        )
        text = self._inner.summarise(previous, lines, instruction).text
        while self._tokens.count(text) < self._max_tokens:  # a model that always writes its maximum
            text += " " + self.filler
        return ModelSummary(text=text, input_tokens=prompt_tokens, output_tokens=self._tokens.count(text))


def _turn(rng: random.Random) -> list[NewMessage]:
    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."

    return [
        NewMessage(role="Jane", role_type=RoleType.USER, content=sentence(8, 30)),
        NewMessage(role="Bot", role_type=RoleType.ASSISTANT, content=" ".join(sentence(10, 25) for _ in range(3))),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_memory_dev.bench.summary_cost", description=__doc__)
    parser.add_argument("--turns", type=int, default=200, help="user+assistant turns (default %(default)s)")
    parser.add_argument("--window", type=int, default=12, help="W (default %(default)s)")
    parser.add_argument("--max-summary-tokens", type=int, default=512, help="(default %(default)s)")
    args = parser.parse_args(argv)

    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    import boto3

    from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
    from chat_memory.service.memory import token_text
    from chat_memory.service.summarise import SummariseSession
    from chat_memory_dev.localdb.dynamodb import create_table_from_template
    from chat_memory_dev.localdb.engine import mock_dynamodb

    tokens = TiktokenCounter()
    rng = random.Random(7)  # noqa: S311 - a reproducible corpus, not a secret
    with mock_dynamodb():
        client = boto3.client("dynamodb")
        create_table_from_template(client, "summary-cost")
        store = DynamoMemoryStore("summary-cost", client=client)
        model = PromptCountingModel(tokens, args.max_summary_tokens)
        summarise = SummariseSession(store, model, tokens, window=args.window, max_input_tokens=4_000)
        folded = input_tokens = output_tokens = summaries = message_tokens = 0
        for _ in range(args.turns):
            turn = _turn(rng)
            message_tokens += sum(tokens.count(token_text(m)) for m in turn)
            store.append_messages("default", "cost", [CountedMessage(m, 0) for m in turn], None, None)
            report = summarise("default", "cost")
            folded += report.messages_folded
            input_tokens += report.model_input_tokens
            output_tokens += report.model_output_tokens
            summaries += report.summaries_written
    messages = 2 * args.turns
    print(f"messages: {messages} (mean {message_tokens / messages:.0f} tokens), W={args.window}")
    print(f"summaries written: {summaries}; messages summarised: {folded}")
    print(f"model input tokens per summarised message: {input_tokens / folded:.0f}")
    print(f"model output tokens per summarised message: {output_tokens / folded:.0f} (upper bound)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
