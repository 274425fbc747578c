"""Unit tests of the developer tools (infra/chat_memory_dev): no AWS."""
