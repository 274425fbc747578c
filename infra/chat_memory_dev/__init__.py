"""Developer tooling for chat-memory, in rooms; no room imports a room above it:

- `cli`: the `chat-memory` command (serve, keys, bench, load, fuzz), the one module that reaches into every room.
- `local/`: the local server (`chat-memory serve`): HTTP to Lambda events, worker processes, stream consumers.
- `localdb/`: the local DynamoDB (moto made faithful and durable) and the table from template.yaml (`dynamodb`).
- `bench/`: measurements: the benchmark against LangChain, summary cost, big deletes.
- `qa/`: checks against a running API: `fuzz` (schemathesis) and `load`.
- `gen/`: generators of checked-in files: infra/openapi.json, events/, functions/requirements.txt.
- `template` (template.yaml, read by every room) and `stats` (percentiles for bench and qa).

Not deployed: SAM builds only `functions/`.
"""
