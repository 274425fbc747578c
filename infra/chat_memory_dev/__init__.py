"""Developer tooling for chat-memory: the local server, table bootstrap, generators and the CLI.

Not deployed: SAM builds only `functions/`.
"""
