import pytest

from harness.client import HttpClient
from harness.local_stage import RunningStage


def pytest_collection_modifyitems(items):
    # A conftest's pytestmark marks nothing: mark this tier's tests here.
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stage():
    """One local stage for the e2e tier; billing every 2 s so its effect is seen quickly."""
    running = RunningStage(billing_interval_s=2).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(stage):
    return HttpClient(stage.api_url)


@pytest.fixture
def seeded(stage):
    """A fresh user per test (the demo user is shared), with its own balance."""
    import itertools

    import boto3

    counter = itertools.count()

    def make(balance: int, user=None):
        user = user or f"e2e-{id(make)}-{next(counter)}"
        client = boto3.client("dynamodb", endpoint_url=stage.dynamodb_url, region_name="us-east-1")
        client.put_item(
            TableName="accounts", Item={"user_id": {"S": user}, "balance": {"N": str(balance)}, "debited": {"N": "0"}}
        )
        return user

    return make
