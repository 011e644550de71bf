import pytest

# Ten years: longer than any test travels (one goes 100 days).
IDLE_NEVER_SECONDS = 10 * 365 * 24 * 3600


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
    # Users who never leave, unless a test says otherwise: the suite's billing, timer and race
    # tests travel many minutes without polling, and the idle rule would end their sessions.
    # The idle tests (tests/*/test_idle*.py) set their own limit; `make run` keeps the default.
    monkeypatch.setenv("SESSION_IDLE_SECONDS", str(IDLE_NEVER_SECONDS))
    for key in ("DYNAMODB_ENDPOINT", "SESSIONS_TABLE", "ACCOUNTS_TABLE", "ADVISORS_TABLE", "LEDGER_TABLE", "STAGE"):
        monkeypatch.delenv(key, raising=False)
