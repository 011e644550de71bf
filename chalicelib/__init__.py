"""Everything behind app.py: api (HTTP edge), services (use cases), domain (pure rules), store (DynamoDB)."""
