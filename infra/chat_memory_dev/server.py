"""Moved to chat_memory_dev.local.server; this name stays only for tests/integration/conftest.py's import (delete it
once that file imports from the new place)."""

from chat_memory_dev.local.server import LAMBDA_RESPONSE_BYTES as LAMBDA_RESPONSE_BYTES
