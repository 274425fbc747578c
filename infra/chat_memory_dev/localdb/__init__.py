"""The local DynamoDB: moto made faithful where chat-memory relies on DynamoDB's behaviour (`engine`, `storage`,
`streams`, `limits`), durable for `chat-memory serve` (`persistence`), and served with the table from template.yaml,
embedded or at a given endpoint (`dynamodb`)."""
