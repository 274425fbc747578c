"""`chat-memory export` / `import`: a tenant's data as JSON Lines (format.py), read from the table a session at a
time (export.py), written back with its uuids and timestamps (importer.py), or read from LangChain's
`DynamoDBChatMessageHistory` table (langchain.py); commands.py registers the subcommands."""
