"""Moved to chat_memory_dev.localdb.dynamodb; this name stays only for tests/integration/conftest.py's import
(delete it once that file imports from the new place)."""

from chat_memory_dev.localdb.dynamodb import create_table_from_template as create_table_from_template
