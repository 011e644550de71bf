"""Injected DynamoDB failures at the botocore layer: what AWS returns when it throttles or fails."""

import contextlib
import threading

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


@contextlib.contextmanager
def failing_call(monkeypatch, nth: int, code: str = THROTTLED, after: bool = False, matches=lambda op, params: True):
    """Fail the `nth` (0-based) DynamoDB call for which `matches(operation, params)` holds.

    With `after=True` the call reaches DynamoDB and only its reply is lost, like a timeout
    after a commit. Yields the operations seen, so a test knows how many calls there were."""
    original = BaseClient._make_api_call
    seen, lock = [], threading.Lock()

    def maybe_fail(client, operation_name, params):
        if client.meta.service_model.service_name != "dynamodb" or not matches(operation_name, params):
            return original(client, operation_name, params)
        with lock:
            index = len(seen)
            seen.append(operation_name)
        if index != nth:
            return original(client, operation_name, params)
        if after:
            with contextlib.suppress(ClientError):  # its reply, whatever it was, is lost
                original(client, operation_name, params)
        raise _error(code, operation_name)

    monkeypatch.setattr(BaseClient, "_make_api_call", maybe_fail)
    yield seen
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
