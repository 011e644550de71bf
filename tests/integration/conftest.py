import json

import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.api import dependencies
from chalicelib.store.dynamo import DynamoStore
from chalicelib.settings import current
from tests.support.clock import FakeClock
from tests.support.dynamo import add_advisor, add_user, count_requests, fresh_tables


@pytest.fixture
def dynamo():
    with mock_aws():
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
def requests(monkeypatch):
    with count_requests(monkeypatch) as counter:
        yield counter


class Api:
    """The HTTP API through chalice.test.Client, in the local stage (X-User-Id identity)."""

    def __init__(self, client):
        self.client = client

    def _call(self, method, path, user=None, body=None, raw=None, headers=None):
        sent = {"Content-Type": "application/json", **(headers or {})}
        if user is not None:
            sent["X-User-Id"] = user
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method)(path, headers=sent, body=payload)
        data = json.loads(response.body) if response.body else None
        return response.status_code, data, response.headers

    def start(self, user, advisor_id=None, session_id=None, **kw):
        body = kw.pop("body", None)
        if body is None:
            body = {"advisor_id": advisor_id}
            if session_id is not None:
                body["session_id"] = session_id
        return self._call("post", "/sessions", user, body=body, **kw)

    def poll(self, user, session_id, **kw):
        return self._call("get", f"/sessions/{session_id}", user, **kw)

    def end(self, user, session_id, **kw):
        return self._call("post", f"/sessions/{session_id}/end", user, **kw)


@pytest.fixture
def api(dynamo, clock):
    with Client(app, stage_name="local") as client:
        yield Api(client)


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
