"""Documented input limits, enforced before any write.

Derived from DynamoDB's 400 KB item and 100-action / 4 MB transaction limits and Lambda's 6 MB payload.
The README lists them; change both together.
"""

from __future__ import annotations

from typing import Final

# One add_memory call is one DynamoDB transaction: the session record plus one action per message.
MAX_MESSAGES_PER_REQUEST: Final = 99
# Sum of the stored bytes of one request's messages: stays under the transaction's 4 MB.
MAX_REQUEST_MESSAGE_BYTES: Final = 3_500_000
# One message's content, UTF-8 bytes: the message item stays far below 400 KB with its metadata.
MAX_CONTENT_BYTES: Final = 100_000
# Metadata (messages, sessions, memory), as compact JSON in UTF-8 bytes.
MAX_METADATA_BYTES: Final = 64_000
MAX_METADATA_DEPTH: Final = 16
MAX_ROLE_CHARS: Final = 256
MAX_ID_CHARS: Final = 256
MAX_SUMMARY_INSTRUCTION_CHARS: Final = 4_000
MAX_LASTN: Final = 1_000
# classify_session: how many classes, how long a class or the classifier's name (a metadata key), and how many of
# the newest messages by default (Zep's default is 4). synthesize_question's lastNMessages: 1 to MAX_LASTN (3).
MAX_CLASSES: Final = 100
MAX_CLASS_CHARS: Final = 256
DEFAULT_CLASSIFY_LAST_N: Final = 4
DEFAULT_QUESTION_LAST_N: Final = 3
# A memory's token budget (GET memory?max_tokens=N): 1 to this many.
MAX_MEMORY_TOKENS: Final = 1_000_000
# GET /sessions page size.
DEFAULT_LIST_LIMIT: Final = 100
MAX_LIST_LIMIT: Final = 1_000
# Search results per request (Zep's default is 10).
DEFAULT_SEARCH_LIMIT: Final = 10
MAX_SEARCH_LIMIT: Final = 100
# Every answer stays under Lambda's 6 MB response payload (6,291,556 bytes): its body measured as the runtime sends
# it, JSON text escaped into the payload's body string; the rest is room for the status and headers. A list past
# this is cut short (with the token of the rest); a memory window leaves out its oldest messages.
MAX_RESPONSE_BYTES: Final = 6_000_000
