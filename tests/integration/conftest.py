import sys

import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import observability
from chalicelib.api import dependencies
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.client import InProcessClient
from harness.clock import FakeClock
from harness.dynamo import add_advisor, add_user, counting_requests, fresh_tables, serialised_moto


@pytest.fixture
def dynamo():
    with mock_aws(), serialised_moto():
        yield fresh_tables()


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(dependencies, "clock", fake)
    return fake


@pytest.fixture
def store(dynamo):
    return DynamoStore(current())


@pytest.fixture
def dynamo_calls():
    """Every DynamoDB call the test makes, by operation name (harness.dynamo.RequestCounter)."""
    with counting_requests() as counter:
        yield counter


@pytest.fixture
def api(dynamo, clock):
    with Client(app, stage_name="local") as client:
        yield InProcessClient(client)


@pytest.fixture
def demo(dynamo):
    """A user with 10000 units and an advisor at 199 a minute (the demo data's figures)."""
    add_user("u-alice", 10_000)
    add_user("u-bob", 10_000)
    add_advisor("a-carol", 199)
    return {"user": "u-alice", "other": "u-bob", "advisor": "a-carol", "rate": 199, "balance": 10_000}


@pytest.fixture
def moto_server(monkeypatch):
    """moto's HTTP server, serialised as in the local stage: real threads, real requests."""
    from chalicelib.local.moto_server import LocalDynamo

    server = LocalDynamo(port=0).start()
    server.reset()
    monkeypatch.setenv("DYNAMODB_ENDPOINT", server.endpoint)
    fresh_tables(server.endpoint)
    yield server
    server.reset()
    server.stop()


class _CurrentStdout:
    """Whatever sys.stdout is at the moment of writing: pytest swaps it between phases."""

    def write(self, text):
        return sys.stdout.write(text)

    def flush(self):
        sys.stdout.flush()


@pytest.fixture
def logs(capsys, monkeypatch):
    """capsys for the service's log lines too: Powertools' handler keeps the stdout it found at
    import, before capsys replaced it."""
    for handler in observability.logger.handlers:
        monkeypatch.setattr(handler, "stream", _CurrentStdout())
    return capsys
