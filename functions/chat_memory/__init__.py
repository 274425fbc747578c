"""chat-memory: Zep-compatible long-term memory for chat assistants on AWS Lambda and DynamoDB."""

__version__ = "0.1.0"
