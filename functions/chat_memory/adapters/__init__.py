"""Adapters: DynamoDB, tokenizer. Know nothing of HTTP."""
