"""Configuration, read from the environment when asked for, never at import.

Chalice's test client sets a stage's environment variables only while a request runs,
and the local stage sets them after importing some modules, so every reader calls
`current()` at the moment it needs a value. A request asks several times: the settings are
built once per environment (keyed on every variable they are read from), so asking again
costs a look at those variables, and a changed one builds them anew.
"""

import os
from dataclasses import dataclass
from typing import FrozenSet, Mapping, MutableMapping, Optional, Tuple

import botocore.exceptions
import botocore.session

from chalicelib.domain.presence import DEFAULT_IDLE_SECONDS, MIN_IDLE_SECONDS

LOCAL_STAGE = "local"
# The region of the local stage's DynamoDB (moto keeps tables per region): what `make run`
# gives its tables unless AWS_REGION or AWS_DEFAULT_REGION says otherwise.
LOCAL_ENDPOINT_REGION = "us-east-1"
# `make run`'s DynamoDB port, unless DYNAMODB_PORT moved it
LOCAL_DYNAMODB_PORT = "8001"


class ConfigurationError(Exception):
    """The environment lacks something a command needs; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    """Everything the environment configures (README.md#configuration), read by `current()`."""

    stage: str
    region: Optional[str]  # None: none configured anywhere (see `connect_region`)
    sessions_table: str
    accounts_table: str
    advisors_table: str
    ledger_table: str
    dynamodb_endpoint: Optional[str]
    active_shards: int
    cors_origin: str
    billing_safety_margin_ms: int
    billing_workers: int
    # The queue the scheduled dispatcher sends one message per shard to; None: no queue, the
    # scheduled function bills every shard itself (tests, scripts; refused inside Lambda).
    billing_queue_url: Optional[str] = None
    # Lambda sets AWS_LAMBDA_FUNCTION_NAME in every function; nothing on a laptop does.
    in_lambda: bool = False
    # Cognito app clients whose tokens the API accepts; empty: any client of the user pool.
    allowed_app_client_ids: FrozenSet[str] = frozenset()
    # How long a session may go without its user being seen before it ends (docs/contract.md).
    session_idle_seconds: int = DEFAULT_IDLE_SECONDS

    @property
    def session_idle_ms(self) -> int:
        return self.session_idle_seconds * 1000

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @property
    def trusts_local_header(self) -> bool:
        """X-User-Id names the caller only in the local stage on a machine of one's own: a
        stage called `local` that reached Lambda anyway (packaged by hand) trusts no header."""
        return self.is_local and not self.in_lambda

    def connect_region(self) -> str:
        """The region a store client connects to. None is refused here rather than left to a
        default (the models' us-east-1): the tables would silently be another region's."""
        if self.region is None:
            raise ConfigurationError(_NO_REGION + _profile_note(os.environ))
        return self.region


_NO_REGION = (
    "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION), or AWS_PROFILE to a profile"
    " with a region in ~/.aws/config (or AWS_CONFIG_FILE)"
)


def _profile_note(env: Mapping[str, str]) -> str:
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    return f"; profile {profile!r} has no region or does not exist" if profile else ""


def resolve_region() -> Optional[str]:
    """As the AWS CLI resolves it: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's
    (AWS_PROFILE or the default profile, in ~/.aws/config or AWS_CONFIG_FILE), else None.
    Lambda always sets AWS_REGION, so only an operator's command ever reads the config file."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    try:
        configured = botocore.session.Session().get_config_variable("region")
    except botocore.exceptions.ProfileNotFound:  # connect_region's message names the profile
        return None
    return str(configured) if configured else None


def _dynamodb_endpoint(env: MutableMapping[str, str]) -> Optional[str]:
    endpoint = env.get("DYNAMODB_ENDPOINT") or None
    if endpoint is None and env.get("STAGE") == LOCAL_STAGE and env.get("AWS_CHALICE_CLI_MODE") == "true":
        # `chalice local --stage local` (the Chalice CLI marks its processes so): `make run`'s
        # DynamoDB, never the real one of whatever credentials the shell holds.
        endpoint = f"http://127.0.0.1:{env.get('DYNAMODB_PORT', LOCAL_DYNAMODB_PORT)}"
        default_for_local_endpoint(env)
    return endpoint


# Every variable the settings are read from, `_dynamodb_endpoint`'s defaults included: the
# key of the settings built last. The profile's variables are not in it: a region that only a
# profile gives is read from the config files at every call (operator commands only).
_ENVIRONMENT_KEY = (
    "STAGE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "SESSIONS_TABLE",
    "ACCOUNTS_TABLE",
    "ADVISORS_TABLE",
    "LEDGER_TABLE",
    "DYNAMODB_ENDPOINT",
    "DYNAMODB_PORT",
    "AWS_CHALICE_CLI_MODE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "ACTIVE_SHARDS",
    "CORS_ORIGIN",
    "BILLING_SAFETY_MARGIN_MS",
    "BILLING_WORKERS",
    "BILLING_QUEUE_URL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "ALLOWED_APP_CLIENT_IDS",
    "SESSION_IDLE_SECONDS",
)
# os.environ keeps its variables encoded in a dict of its own; asking that dict costs no
# KeyError per unset variable, which os.environ.get pays (about 1 us each, most of the key).
_PROCESS_ENVIRON = os.environ
_PROCESS_DATA: Optional[Mapping[object, object]] = getattr(os.environ, "_data", None)
_ENCODED_KEY = tuple(map(os.environ.encodekey, _ENVIRONMENT_KEY)) if _PROCESS_DATA is not None else ()
# (the values of _ENVIRONMENT_KEY, the settings they gave); replaced whole, so threads that
# ask at once each see one consistent pair.
_last: Optional[Tuple[Tuple[object, ...], Settings]] = None


def _environment_key(env: Mapping[str, str]) -> Tuple[object, ...]:
    if env is _PROCESS_ENVIRON and _PROCESS_DATA is not None:
        return tuple(map(_PROCESS_DATA.get, _ENCODED_KEY))
    return tuple(map(env.get, _ENVIRONMENT_KEY))


def current() -> Settings:
    """The settings of the environment as it is now (the same object while it stays so)."""
    global _last
    env = os.environ  # looked up at each call: Chalice's test client swaps it during a request
    key = _environment_key(env)
    last = _last
    if last is not None and last[0] == key:
        return last[1]
    settings = _read(env)
    if env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"):
        # Keyed on the environment as reading left it (_dynamodb_endpoint may set defaults).
        _last = (_environment_key(env), settings)
    return settings


def _read(env: MutableMapping[str, str]) -> Settings:
    dynamodb_endpoint = _dynamodb_endpoint(env)
    return Settings(
        # Unset means "not the local stage": the X-User-Id header is then never honoured.
        stage=env.get("STAGE", ""),
        region=resolve_region(),
        sessions_table=env.get("SESSIONS_TABLE", "sessions"),
        accounts_table=env.get("ACCOUNTS_TABLE", "accounts"),
        advisors_table=env.get("ADVISORS_TABLE", "advisors"),
        ledger_table=env.get("LEDGER_TABLE", "ledger"),
        dynamodb_endpoint=dynamodb_endpoint,
        # Shards can only grow: billing queries shards 0..N-1, so a session written with a
        # smaller N is still found after N is raised.
        active_shards=int(env.get("ACTIVE_SHARDS", "16")),
        cors_origin=env.get("CORS_ORIGIN", "http://localhost:8002"),
        billing_safety_margin_ms=int(env.get("BILLING_SAFETY_MARGIN_MS", "10000")),
        billing_workers=int(env.get("BILLING_WORKERS", "8")),
        billing_queue_url=env.get("BILLING_QUEUE_URL") or None,
        in_lambda=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
        allowed_app_client_ids=_id_list(env.get("ALLOWED_APP_CLIENT_IDS", "")),
        session_idle_seconds=idle_seconds(env.get("SESSION_IDLE_SECONDS")),
    )


def idle_seconds(value: Optional[str]) -> int:
    """SESSION_IDLE_SECONDS: whole seconds, at least MIN_IDLE_SECONDS; unset or blank is the
    default. Anything else is refused: a typo must not end every session at its first poll."""
    if value is None or not value.strip():
        return DEFAULT_IDLE_SECONDS
    try:
        seconds = int(value.strip())
    except ValueError:
        seconds = None
    if seconds is None or seconds < MIN_IDLE_SECONDS:
        raise ConfigurationError(
            f"SESSION_IDLE_SECONDS must be a whole number of seconds, at least {MIN_IDLE_SECONDS}; got {value!r}"
        )
    return seconds


def _id_list(value: str) -> FrozenSet[str]:
    """A comma-separated list as CloudFormation passes one; blanks and spaces ignored."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def default_for_local_endpoint(env: MutableMapping[str, str] = os.environ) -> None:
    """For an operator's command pointed at the local stage's DynamoDB (moto): its tables are in
    the region `make run` gives them (AWS_REGION or AWS_DEFAULT_REGION, else us-east-1), not in
    the profile's, and it takes any credentials, though botocore still wants some."""
    env.setdefault("AWS_DEFAULT_REGION", LOCAL_ENDPOINT_REGION)
    env.setdefault("AWS_ACCESS_KEY_ID", "local")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
