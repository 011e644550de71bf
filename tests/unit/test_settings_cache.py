"""Settings are built once per environment (chalicelib/settings.py): asking again returns the
same object until a variable they are read from changes, however it changes (monkeypatch,
Chalice's test client swapping os.environ for a dict during a request, the local stage's
defaults), and a region only a profile gives is read from the files at every call."""

import os

import pytest

from chalicelib import settings
from chalicelib.settings import ConfigurationError, current

CHANGES = {
    "STAGE": "local",
    "AWS_REGION": "eu-west-1",
    "SESSIONS_TABLE": "sessions-other",
    "ACCOUNTS_TABLE": "accounts-other",
    "ADVISORS_TABLE": "advisors-other",
    "LEDGER_TABLE": "ledger-other",
    "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
    "ACTIVE_SHARDS": "512",
    "CORS_ORIGIN": "https://chat.example",
    "BILLING_SAFETY_MARGIN_MS": "5000",
    "BILLING_WORKERS": "2",
    "BILLING_QUEUE_URL": "https://sqs.example/q",
    "AWS_LAMBDA_FUNCTION_NAME": "session-timer-prod",
    "ALLOWED_APP_CLIENT_IDS": "a,b",
    "SESSION_IDLE_SECONDS": "60",
}


def test_asking_again_returns_the_same_settings():
    assert current() is current()


@pytest.mark.parametrize("name, value", sorted(CHANGES.items()))
def test_a_changed_variable_gives_settings_that_follow_it(name, value):
    before = current()
    with pytest.MonkeyPatch.context() as changed:
        changed.setenv(name, value)
        after = current()
        assert after is not before and after != before
        assert after is current()
    assert current() == before


def test_a_removed_variable_counts_as_a_change(monkeypatch):
    monkeypatch.setenv("SESSIONS_TABLE", "named")
    assert current().sessions_table == "named"
    monkeypatch.delenv("SESSIONS_TABLE")
    assert current().sessions_table == "sessions"


def test_an_environment_swapped_for_a_dict_is_read_and_the_original_again_after(monkeypatch):
    # What chalice.test.Client does around each request: os.environ becomes a patched copy.
    outside = current()
    original = os.environ
    patched = original.copy()
    patched.update(STAGE="local", CORS_ORIGIN="http://localhost:8002")
    monkeypatch.setattr(os, "environ", patched)
    inside = current()
    assert (inside.stage, inside.cors_origin) == ("local", "http://localhost:8002")
    monkeypatch.setattr(os, "environ", original)
    assert current() == outside


def test_the_key_holds_every_variable_the_settings_are_read_from(monkeypatch):
    """Reading through a recording environment: a variable read but not in the key would
    leave settings stale when only it changes."""
    read = set()

    class Recording(dict):
        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

        def setdefault(self, key, default=None):
            read.add(key)
            return super().setdefault(key, default)

    env = Recording(os.environ)
    env.update(STAGE="local", AWS_CHALICE_CLI_MODE="true")  # the branch that sets defaults too
    env.pop("DYNAMODB_ENDPOINT", None)
    monkeypatch.setattr(os, "environ", env)
    settings._read(env)
    assert read <= set(settings._ENVIRONMENT_KEY), read - set(settings._ENVIRONMENT_KEY)


def test_defaults_the_local_endpoint_sets_are_set_again_when_removed(monkeypatch):
    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("AWS_CHALICE_CLI_MODE", "true")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    assert current().dynamodb_endpoint == "http://127.0.0.1:8001"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "local"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    current()
    assert os.environ["AWS_ACCESS_KEY_ID"] == "local"


def test_a_bad_value_is_refused_at_every_call(monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_SECONDS", "2")
    for _ in range(2):
        with pytest.raises(ConfigurationError):
            current()


def test_a_region_only_a_profile_gives_is_read_from_the_file_at_every_call(monkeypatch, tmp_path):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert current().region == "eu-west-3"
    config.write_text("[profile ops]\nregion = ap-south-1\n")
    assert current().region == "ap-south-1"
