"""The local DynamoDB: moto made faithful where chat-memory relies on DynamoDB's behaviour (`engine`, `storage`,
`streams`), and durable for `chat-memory serve` (`persistence`)."""
