import pytest


@pytest.fixture(autouse=True)
def _aws_test_environment(monkeypatch):
    """No test may reach AWS: fake credentials, a fixed region, the local table names."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("DYNAMODB_ENDPOINT", "SESSIONS_TABLE", "ACCOUNTS_TABLE", "ADVISORS_TABLE", "LEDGER_TABLE", "STAGE"):
        monkeypatch.delenv(key, raising=False)
