"""A memory window read to a token budget: the window's one descending Query, stopped at the first message that
would not fit, its pages sized by the tokens per message seen so far (so it reads about what it returns, never
the whole history)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.items import sort_key, to_item
from chat_memory.adapters.dynamodb.table import Table

# Before any message is seen, the first page guesses this many tokens per message (a chat turn is tens of tokens).
_GUESSED_TOKENS_PER_MESSAGE: Final = 50
_HEAD_ITEMS: Final = 2  # the current summary and the session item come before the messages


def _tokens(item: Mapping[str, Any]) -> int:
    return int(item["token_count"]["N"])


class _Budget:
    """What the items read so far spend of the budget: the current summary's tokens, then the messages'."""

    def __init__(self, limit: int, tokens: int) -> None:
        self.limit, self.tokens = limit, tokens
        self.spent = self.messages = 0
        self.cut = False

    def take(self, item: Mapping[str, Any]) -> bool:
        """Whether the item is kept; False once a message would not fit (or `limit` messages are in)."""
        sk = sort_key(item)
        if sk == keys.CURRENT_SUMMARY_SK:
            if _tokens(item) <= self.tokens:  # a summary over the budget is left out (by the use case)
                self.spent += _tokens(item)
            return True
        if not sk.startswith(keys.MESSAGE_SK_PREFIX):
            return True  # the session item
        if self.messages >= self.limit:
            return False
        if self.spent + _tokens(item) > self.tokens:
            self.cut = True
            return False
        self.spent += _tokens(item)
        self.messages += 1
        return True

    def next_page(self) -> int:
        """How many items the next page asks for: what the rest of the budget holds at the average so far."""
        average = self.spent / self.messages if self.messages else _GUESSED_TOKENS_PER_MESSAGE
        room = max(0, self.tokens - self.spent)
        return max(1, min(self.limit - self.messages, math.ceil(room / max(average, 1.0)) + 1))


def budgeted_window(table: Table, pk: str, limit: int, tokens: int) -> tuple[list[Mapping[str, Any]], bool]:
    """The window's items (summary, session, newest messages first) that fit `tokens`, at most `limit` messages;
    and whether the budget cut them short."""
    budget = _Budget(limit, tokens)
    query: dict[str, Any] = {
        "TableName": table.name,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": to_item(
            {":pk": pk, ":lo": keys.MESSAGE_SK_PREFIX, ":hi": keys.CURRENT_SUMMARY_SK}
        ),
        "ScanIndexForward": False,
        "ConsistentRead": True,
        "Limit": budget.next_page() + _HEAD_ITEMS,
    }
    items: list[Mapping[str, Any]] = []
    while True:
        with store_errors():
            page = table.db.query(**query)
        for item in page.get("Items", []):
            if not budget.take(item):
                return items, budget.cut
            items.append(item)
        if "LastEvaluatedKey" not in page:
            return items, False
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        query["Limit"] = budget.next_page()
