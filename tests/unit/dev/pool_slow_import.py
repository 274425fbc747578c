"""A handler module whose import is slow, as a cold start's can be (for the worker pool's tests)."""

import time
from typing import Any

time.sleep(1.0)  # the cold start: a heavy import


def handler(event: dict[str, Any], context: Any) -> str:
    return "warm"
