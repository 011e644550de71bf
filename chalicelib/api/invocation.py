"""Every DynamoDB request of an API call must fit the Lambda's remaining time."""

from chalicelib.store.failures import deadline


def within_remaining_time(event, get_response):
    """HTTP middleware: the store refuses (503 + Retry-After) a request that could outlive
    the invocation, instead of the caller getting API Gateway's 504 with nothing said."""
    remaining = getattr(event.lambda_context, "get_remaining_time_in_millis", None)
    with deadline(remaining):
        return get_response(event)
