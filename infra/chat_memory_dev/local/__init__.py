"""The local server (`chat-memory serve`): HTTP to API Gateway events (`server`), the Lambda runtime's part
(`runtime`), worker processes (`workers`), the stream consumers (`stream`), /docs (`api_docs`) and the server as a
child process (`child`)."""
