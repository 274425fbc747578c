"""DynamoDB adapter: key layout, client and repository."""
