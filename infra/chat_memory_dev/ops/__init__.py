"""Operating a deployed stack: the dead-letter queues (`chat-memory dlq`)."""
