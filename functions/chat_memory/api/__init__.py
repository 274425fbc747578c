"""HTTP edge: request/response schemas, id and query parsing, error mapping, the resolver factory."""
