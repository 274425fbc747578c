"""The one Logger, Tracer and Metrics of every function.

Never log message content or metadata: log ids, counts and sizes only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "chat-memory"
NAMESPACE = "ChatMemory"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
