"""Injected DynamoDB failures at the botocore layer: what AWS returns when it throttles or fails."""
import contextlib

from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError

THROTTLED = "ThrottlingException"
PROVISIONED = "ProvisionedThroughputExceededException"
INTERNAL = "InternalServerError"
TIMEOUT = "ReadTimeout"


def _error(code: str, operation: str):
    if code == TIMEOUT:
        return ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


@contextlib.contextmanager
def failing(monkeypatch, operation: str, code: str = THROTTLED, times: int = 10**9):
    """Make `operation` fail with `code` the next `times` calls; yields the list of failures."""
    original = BaseClient._make_api_call
    failures = []

    def maybe_fail(client, operation_name, params):
        if operation_name == operation and len(failures) < times:
            failures.append(operation_name)
            raise _error(code, operation_name)
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", maybe_fail)
    yield failures
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
