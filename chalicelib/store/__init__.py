"""The one place that talks to DynamoDB: PynamoDB models and the store built on them."""
