"""Use cases. They know nothing of events, HTTP or boto3: only the domain and its ports."""
