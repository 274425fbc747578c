"""Benchmarks: chat-memory against LangChain's DynamoDB chat history (capacity units, calls, latency)."""
