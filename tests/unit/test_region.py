"""The region, resolved as the AWS CLI resolves it: AWS_REGION, else AWS_DEFAULT_REGION, else
the profile's (AWS_PROFILE, the config file), else none, which the store refuses with a clear
error instead of connecting to PynamoDB's default region."""

import botocore.session
import pytest

from chalicelib import settings
from chalicelib.settings import ConfigurationError, current, default_for_local_endpoint
from chalicelib.store import models
from chalicelib.store.books import Books
from chalicelib.store.connection import StoreConnection

OPS_PROFILE = "[profile ops]\nregion = eu-west-3\n\n[default]\nregion = ap-south-1\n"


@pytest.fixture
def no_region_env(monkeypatch, tmp_path):
    """An operator's shell without region variables; the config files are the test's own."""
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    return monkeypatch


@pytest.fixture
def ops_profile(no_region_env, tmp_path):
    config = tmp_path / "config"
    config.write_text(OPS_PROFILE)
    no_region_env.setenv("AWS_CONFIG_FILE", str(config))
    no_region_env.setenv("AWS_PROFILE", "ops")
    return no_region_env


def test_aws_region_wins_over_everything(ops_profile):
    ops_profile.setenv("AWS_DEFAULT_REGION", "us-west-2")
    ops_profile.setenv("AWS_REGION", "ca-central-1")
    assert current().region == "ca-central-1"


def test_aws_default_region_wins_over_the_profile(ops_profile):
    ops_profile.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert current().region == "us-west-2"


def test_the_environment_is_read_without_touching_the_config_files(no_region_env):
    # Lambda always sets AWS_REGION: no botocore session, no file read, on any request.
    def refuse():
        raise AssertionError("the config file was consulted")

    no_region_env.setattr(botocore.session, "Session", refuse)
    no_region_env.setenv("AWS_REGION", "eu-central-1")
    assert current().region == "eu-central-1"


def test_the_profiles_region_is_used_when_the_environment_names_none(ops_profile):
    assert current().region == "eu-west-3"
    assert current().connect_region() == "eu-west-3"


def test_the_default_profiles_region_is_used_without_aws_profile(ops_profile):
    ops_profile.delenv("AWS_PROFILE")
    assert current().region == "ap-south-1"


@pytest.fixture
def models_restored():
    """Put every model back as it was bound: the tests that follow share the classes."""
    saved = [(m, m.Meta.table_name, m.Meta.host, m.Meta.region, m._connection) for m, _ in models.TABLES.values()]
    yield
    for model, table_name, host, region, connection in saved:
        model.Meta.table_name, model.Meta.host, model.Meta.region = table_name, host, region
        model._connection = connection


def test_the_store_binds_its_tables_to_the_profiles_region(ops_profile, models_restored):
    StoreConnection(current())
    assert {model.Meta.region for model, _ in models.TABLES.values()} == {"eu-west-3"}


def test_no_region_anywhere_is_none_and_connecting_says_what_to_set(no_region_env):
    config = current()
    assert config.region is None
    with pytest.raises(ConfigurationError) as raised:
        config.connect_region()
    message = str(raised.value)
    assert "no AWS region" in message
    assert all(name in message for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"))
    assert "\n" not in message


@pytest.mark.parametrize("connect", [models.bind, StoreConnection, Books], ids=["bind", "StoreConnection", "Books"])
def test_the_store_refuses_to_connect_without_a_region(no_region_env, connect):
    before = [model.Meta.region for model, _ in models.TABLES.values()]
    with pytest.raises(ConfigurationError, match="no AWS region"):
        connect(current())
    # Nothing was pointed at a default region on the way.
    assert [model.Meta.region for model, _ in models.TABLES.values()] == before


def test_a_profile_that_does_not_exist_is_named_in_the_error(no_region_env):
    no_region_env.setenv("AWS_PROFILE", "nope")
    config = current()
    assert config.region is None
    with pytest.raises(ConfigurationError, match="'nope'"):
        config.connect_region()


def test_a_profile_without_a_region_is_named_in_the_error(no_region_env, tmp_path):
    config_file = tmp_path / "config"
    config_file.write_text("[profile bare]\noutput = json\n")
    no_region_env.setenv("AWS_CONFIG_FILE", str(config_file))
    no_region_env.setenv("AWS_PROFILE", "bare")
    with pytest.raises(ConfigurationError, match="'bare' has no region"):
        current().connect_region()


def test_the_local_endpoint_takes_the_local_stages_region_not_the_profiles(ops_profile):
    env: dict = {}
    default_for_local_endpoint(env)
    assert env["AWS_DEFAULT_REGION"] == settings.LOCAL_ENDPOINT_REGION == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]


def test_the_local_endpoint_keeps_a_region_the_environment_names():
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "mine"}
    default_for_local_endpoint(env)
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1" and env["AWS_ACCESS_KEY_ID"] == "mine"


@pytest.mark.parametrize(
    "stage, cli_mode, endpoint",
    [
        ("local", "true", "http://127.0.0.1:8001"),  # chalice local --stage local: make run's DynamoDB
        ("local", None, None),  # make run, tests: their own endpoint or moto's mock
        ("prod", "true", None),  # chalice package --stage prod loads the app too
    ],
)
def test_chalice_local_on_the_local_stage_points_at_make_runs_dynamodb(no_region_env, stage, cli_mode, endpoint):
    no_region_env.delenv("DYNAMODB_ENDPOINT", raising=False)
    no_region_env.delenv("DYNAMODB_PORT", raising=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # restored after: current() may set them
        no_region_env.delenv(key, raising=False)
    no_region_env.setenv("STAGE", stage)
    if cli_mode:
        no_region_env.setenv("AWS_CHALICE_CLI_MODE", cli_mode)
    else:
        no_region_env.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    found = current()
    assert found.dynamodb_endpoint == endpoint
    # moto's tables are in make run's region, whatever the shell's profile says
    assert (found.region == "us-east-1") == (endpoint is not None)


def test_chalice_local_follows_dynamodb_port_and_an_explicit_endpoint_wins(no_region_env):
    no_region_env.setenv("STAGE", "local")
    no_region_env.setenv("AWS_CHALICE_CLI_MODE", "true")
    no_region_env.setenv("DYNAMODB_PORT", "18001")
    no_region_env.delenv("DYNAMODB_ENDPOINT", raising=False)
    assert current().dynamodb_endpoint == "http://127.0.0.1:18001"
    no_region_env.setenv("DYNAMODB_ENDPOINT", "http://127.0.0.1:9999")
    assert current().dynamodb_endpoint == "http://127.0.0.1:9999"
