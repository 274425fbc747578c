"""Domain: models, errors, limits and ports. Knows nothing of HTTP or boto3."""
