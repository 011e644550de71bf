"""PynamoDB models of the four tables. Keys and indexes must match infra/resources.json
(tests/unit/test_schema_matches_template.py fails when they drift).

Table names, endpoint and region are bound from settings at run time by `bind()`, never at
import: Chalice's test client only sets a stage's environment during a call.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.settings import Settings


class TableMeta:
    table_name = "unbound"
    region = "us-east-1"
    host = None
    # The API answers a throttled call with 503 + Retry-After rather than hold the caller.
    # Sized so that one request, retries included, fits well inside the API function's 10 s:
    # 2 attempts x (1 s + 2 s) + botocore's backoff (< 1 s). store.deadline() refuses to start
    # a request that could not finish before the function is cut off.
    max_retry_attempts = 1
    connect_timeout_seconds = 1
    read_timeout_seconds = 2


class SessionsByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    started_at_ms = NumberAttribute(range_key=True)


class SessionsByAdvisor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_advisor"
        projection = AllProjection()

    advisor_id = UnicodeAttribute(hash_key=True)
    started_at_ms = NumberAttribute(range_key=True)


class SessionsByDay(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    started_day = UnicodeAttribute(hash_key=True)
    started_at_ms = NumberAttribute(range_key=True)


class ActiveSessionsByShard(GlobalSecondaryIndex):
    """Sparse: `active_shard` exists only while a session is active, so billing reads only
    active sessions; the shard number spreads their writes over partitions."""

    class Meta:
        index_name = "active_by_shard"
        projection = AllProjection()

    active_shard = NumberAttribute(hash_key=True)
    started_at_ms = NumberAttribute(range_key=True)


class SessionItem(Model):
    class Meta(TableMeta):
        pass

    session_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    advisor_id = UnicodeAttribute()
    status = UnicodeAttribute()
    rate_per_minute = NumberAttribute()
    # Schema 2 (null only on records of the previous release until they are upgraded).
    schema_version = NumberAttribute(null=True)
    started_at_ms = NumberAttribute(null=True)
    started_at = UnicodeAttribute(null=True)
    started_day = UnicodeAttribute(null=True)
    timer_init = UnicodeAttribute(null=True)
    active_shard = NumberAttribute(null=True)
    billed_minutes = NumberAttribute(null=True)
    charged = NumberAttribute(null=True)
    ended_at_ms = NumberAttribute(null=True)
    ended_at = UnicodeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)
    legacy_charged = NumberAttribute(null=True)
    upgraded_at = UnicodeAttribute(null=True)
    # Schema 1: epoch seconds, possibly fractional.
    created_at = NumberAttribute(null=True)
    timer_start = NumberAttribute(null=True)

    by_user = SessionsByUser()
    by_advisor = SessionsByAdvisor()
    by_day = SessionsByDay()
    active_by_shard = ActiveSessionsByShard()


# An account attribute per active session: `last_seen:<session id>`, epoch ms (store/records.py).
LAST_SEEN_PREFIX = "last_seen:"


class AccountItem(Model):
    class Meta(TableMeta):
        pass

    user_id = UnicodeAttribute(hash_key=True)
    balance = NumberAttribute(default=0)
    # Sum of every ledger amount taken from this account: what reconcile checks.
    debited = NumberAttribute(null=True)
    # The user's active sessions (see domain.session.Account): a start needs it absent.
    active_sessions = UnicodeSetAttribute(null=True)
    # The one-id marker of earlier builds: read and cleared, never written any more.
    active_session_id = UnicodeAttribute(null=True)


class AdvisorItem(Model):
    class Meta(TableMeta):
        pass

    advisor_id = UnicodeAttribute(hash_key=True)
    rate_per_minute = NumberAttribute()
    display_name = UnicodeAttribute(null=True)


class LedgerByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    charged_at_ms = NumberAttribute(range_key=True)


class LedgerItem(Model):
    """One charge. Key: the session and the first minute it covers (deterministic)."""

    class Meta(TableMeta):
        pass

    session_id = UnicodeAttribute(hash_key=True)
    first_minute = NumberAttribute(range_key=True)
    user_id = UnicodeAttribute()
    minutes = NumberAttribute()
    amount = NumberAttribute()
    rate_per_minute = NumberAttribute()
    charged_at_ms = NumberAttribute()
    charged_at = UnicodeAttribute()
    kind = UnicodeAttribute()

    by_user = LedgerByUser()


# Logical id in infra/resources.json -> model, and the settings field naming its table.
TABLES = {
    "SessionsTable": (SessionItem, "sessions_table"),
    "AccountsTable": (AccountItem, "accounts_table"),
    "AdvisorsTable": (AdvisorItem, "advisors_table"),
    "LedgerTable": (LedgerItem, "ledger_table"),
}


def bind(settings: Settings) -> None:
    """Point every model at the tables, endpoint and region of `settings`; with no region
    configured, settings.ConfigurationError says what to set (never a default region)."""
    region = settings.connect_region()
    for model, field in TABLES.values():
        meta = model.Meta
        name = getattr(settings, field)
        if (meta.table_name, meta.host, meta.region) != (
            name,
            settings.dynamodb_endpoint,
            region,
        ):
            meta.table_name = name
            meta.host = settings.dynamodb_endpoint
            meta.region = region
            model._connection = None  # PynamoDB caches it per class


def forget_connections() -> None:
    """Drop every model's cached connection: the next request builds one for the current
    endpoint (tests that start a new moto between cases)."""
    for model, _ in TABLES.values():
        model._connection = None


def connect(settings: Settings, request_timeouts: bool) -> Connection:
    """The models bound to `settings` and a connection for what they cannot do alone
    (transactions, reconcile's scans), on the same tables, endpoint and region. Request
    timeouts are TableMeta's short ones, for the API; without them (None), PynamoDB's
    defaults suit an operator's long scans."""
    bind(settings)
    return Connection(
        region=settings.connect_region(),
        host=settings.dynamodb_endpoint,
        max_retry_attempts=TableMeta.max_retry_attempts,
        connect_timeout_seconds=TableMeta.connect_timeout_seconds if request_timeouts else None,
        read_timeout_seconds=TableMeta.read_timeout_seconds if request_timeouts else None,
    )
