"""DynamoStore: every DynamoDB request the service makes, and its errors turned into domain errors.

Request budget (SPEC cost targets): start = one BatchGetItem + one TransactWriteItems;
the user's poll = one TransactGetItems (a snapshot: see docs/concurrency.md); the advisor's
poll = two (the first names the user whose balance the view needs); end = the poll's reads
+ one TransactWriteItems (+ a re-read and a retry only when a billing run raced it).
"""
import contextlib
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Iterator, NamedTuple, Optional

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.billing import Charge
from chalicelib.domain.errors import (
    ActiveSessionExists,
    LegacyRecordUnusable,
    ChargeConflict,
    InsufficientCredit,
    ServiceUnavailable,
    SessionNotFound,
)
from chalicelib.domain.instants import iso_ms
from chalicelib.domain.session import ACTIVE, CURRENT_SCHEMA, Account, Advisor, Session
from chalicelib.observability import logger
from chalicelib.settings import Settings
from chalicelib.store import models
from chalicelib.store.models import AccountItem, AdvisorItem, LedgerItem, SessionItem
from chalicelib.store.records import (
    from_raw,
    legacy_as_read,
    legacy_upgrade_actions,
    new_session_item,
    shard_of,
    to_account,
    to_advisor,
    to_session,
)

ALL_OLD = "ALL_OLD"
CONDITION_FAILED = "ConditionalCheckFailed"
# Another transaction on the same item was in flight (real DynamoDB only): trying again
# meets that transaction's outcome.
CONFLICT = "TransactionConflict"
# Our own retries (unprocessed keys, conflicts): few, short, jittered, and never past the
# caller's deadline.
ATTEMPTS = 4
BACKOFF_MS = 20
# The longest one request can take with PynamoDB's retries (models._Meta), botocore's
# backoff included: a request is not started with less than this left.
WORST_REQUEST_MS = (
    (1 + models._Meta.max_retry_attempts)
    * (models._Meta.connect_timeout_seconds + models._Meta.read_timeout_seconds)
    * 1000
    + 1000
)

# The invocation's remaining time (Lambda's countdown), set per request by the API layer.
# A context variable: the local stage serves requests on threads that share one store.
_remaining_ms: ContextVar[Optional[Callable[[], int]]] = ContextVar("remaining_ms", default=None)


@contextlib.contextmanager
def deadline(remaining_ms: Optional[Callable[[], int]]):
    """Every request made inside must be able to finish before `remaining_ms()` reaches 0,
    or the caller gets our 503 + Retry-After instead of API Gateway's 504."""
    token = _remaining_ms.set(remaining_ms)
    try:
        yield
    finally:
        _remaining_ms.reset(token)


def _ensure_time_for(action: str) -> None:
    remaining = _remaining_ms.get()
    if remaining is not None and remaining() < WORST_REQUEST_MS:
        logger.warning("dynamodb %s not started: %d ms left", action, remaining())
        raise ServiceUnavailable("the request ran out of time waiting for the database; retry")


class SessionExists(Exception):
    """The session_id is already stored; the service decides between 200 and 409."""

    def __init__(self, session: Session):
        super().__init__(session.session_id)
        self.session = session


@dataclass(frozen=True)
class Snapshot:
    """What one read returned: a BatchGetItem (start's decision, guarded by the write's
    conditions) or a TransactGetItems (a view: one instant for every item)."""

    session: Optional[Session] = None
    account: Optional[Account] = None
    advisor: Optional[Advisor] = None


def error_code(error: Exception):
    """The AWS error code of a PynamoDB or botocore error; None for timeouts and connection
    errors (PynamoDB's own `cause_response_code` raises on those)."""
    for candidate in (getattr(error, "cause", None), error):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            return response.get("Error", {}).get("Code")
    return None


class _Conflict(Exception):
    """A transaction was cancelled by another one in flight on the same items: retry."""


def _cancelled_by_conflict(error: Exception) -> bool:
    """A read transaction has no conditions: any cancellation is a conflict or throttling."""
    return error_code(error) == "TransactionCanceledException"


def _reasons(error: TransactWriteError):
    return error.cancellation_reasons if error_code(error) == "TransactionCanceledException" else []


@contextlib.contextmanager
def unavailable_on_failure(action: str):
    """Throttling, service errors and timeouts become 503 + Retry-After; nothing was committed
    (a transaction is all or nothing, and our other writes are single conditional writes).
    A request that could outlive the invocation is not started."""
    _ensure_time_for(action)
    try:
        yield
    except (PynamoDBException, ClientError, BotoCoreError) as error:
        logger.warning("dynamodb %s failed: %s", action, error_code(error) or type(error).__name__)
        raise ServiceUnavailable() from error


class DynamoStore:
    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._sleep = sleep
        models.bind(settings)
        self._connection = Connection(
            region=settings.region,
            host=settings.dynamodb_endpoint,
            max_retry_attempts=models._Meta.max_retry_attempts,
            connect_timeout_seconds=models._Meta.connect_timeout_seconds,
            read_timeout_seconds=models._Meta.read_timeout_seconds,
        )

    # ---- reads -------------------------------------------------------------------------

    def _batch_get(self, wanted: Dict[type, str]) -> Dict[type, Optional[dict]]:
        """One consistent BatchGetItem over several tables, one key per table."""
        request = {
            model.Meta.table_name: {
                "Keys": [{model._hash_key_attribute().attr_name: {"S": key}}],
                "ConsistentRead": True,
            }
            for model, key in wanted.items()
        }
        by_table = {model.Meta.table_name: model for model in wanted}
        found: Dict[type, Optional[dict]] = {model: None for model in wanted}
        for attempt in range(ATTEMPTS):
            if attempt:
                self._back_off(attempt)
            with unavailable_on_failure("BatchGetItem"):
                reply = self._connection.client.batch_get_item(RequestItems=request)
            for table, items in reply.get("Responses", {}).items():
                for raw in items:
                    found[by_table[table]] = raw
            # DynamoDB may leave keys unprocessed under load; ask again for just those.
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise ServiceUnavailable("the database is overloaded; retry")

    def _back_off(self, attempt: int) -> None:
        """Full jitter (AWS's advice): retries of many callers spread out instead of colliding."""
        _ensure_time_for("retry")
        self._sleep(random.uniform(0, BACKOFF_MS * 2**attempt) / 1000)

    def view(self, session_id: str, user_id: str) -> Snapshot:
        """A session and one user's account at one instant (TransactGetItems). A BatchGetItem
        is not a snapshot: a charge landing between its two reads lowers the credit cap by a
        minute it already counted, and the timer goes back."""
        items = [
            {"Get": {"TableName": SessionItem.Meta.table_name, "Key": {"session_id": {"S": session_id}}}},
            {"Get": {"TableName": AccountItem.Meta.table_name, "Key": {"user_id": {"S": user_id}}}},
        ]
        for attempt in range(ATTEMPTS):
            if attempt:
                self._back_off(attempt)
            try:
                with unavailable_on_failure("TransactGetItems"):
                    try:
                        reply = self._connection.client.transact_get_items(TransactItems=items)
                    except ClientError as error:
                        if _cancelled_by_conflict(error):
                            raise _Conflict() from error
                        raise
            except _Conflict:
                continue
            session_raw, account_raw = (r.get("Item") for r in reply["Responses"])
            session_item = from_raw(SessionItem, session_raw)
            return Snapshot(
                session=None if session_item is None else to_session(session_item),
                account=to_account(from_raw(AccountItem, account_raw), user_id),
            )
        raise ServiceUnavailable("the session is being changed right now; retry")

    def first_active(self, session_ids: FrozenSet[str]) -> Optional[str]:
        """Which of these sessions is still active, if any: an account's markers are checked
        before a start is refused (one that names an ended session is repaired, not obeyed)."""
        for session_id in sorted(session_ids):
            try:
                session = self.session(session_id)
            except LegacyRecordUnusable:
                return session_id  # it counted once; a person must repair it
            if session is not None and session.is_active:
                return session_id
        return None

    def read(
        self,
        session_id: Optional[str] = None,
        user_id: Optional[str] = None,
        advisor_id: Optional[str] = None,
    ) -> Snapshot:
        wanted = {}
        if session_id:
            wanted[SessionItem] = session_id
        if user_id:
            wanted[AccountItem] = user_id
        if advisor_id:
            wanted[AdvisorItem] = advisor_id
        raw = self._batch_get(wanted)
        session_item = from_raw(SessionItem, raw.get(SessionItem))
        return Snapshot(
            session=None if session_item is None else to_session(session_item),
            account=to_account(from_raw(AccountItem, raw.get(AccountItem)), user_id) if user_id else None,
            advisor=to_advisor(from_raw(AdvisorItem, raw.get(AdvisorItem))),
        )

    def session(self, session_id: str) -> Optional[Session]:
        with unavailable_on_failure("GetItem"):
            try:
                return to_session(SessionItem.get(session_id, consistent_read=True))
            except SessionItem.DoesNotExist:
                return None

    def active_sessions(self, shard: int, forward: bool = True) -> Iterator[Session]:
        """Active sessions of one shard, page by page (the sparse index: never a scan), by
        `started_at_ms`: oldest first when `forward`, newest first otherwise."""
        with unavailable_on_failure("Query"):
            for item in SessionItem.active_by_shard.query(shard, scan_index_forward=forward, page_size=100):
                yield to_session(item)

    # ---- writes ------------------------------------------------------------------------

    def create_session(self, session: Session, min_balance: int, account: Account) -> None:
        """One transaction: the session item (holding its start) and the account's guard.

        The account must still hold exactly the markers `account` was read with (none, or
        only ended sessions the start is replacing) and cover `min_balance`. Raises
        SessionExists, ActiveSessionExists or InsufficientCredit from the cancellation
        reasons (and the items DynamoDB returns with them), never from message text.
        """
        marker, single = AccountItem.active_sessions, AccountItem.active_session_id
        guard = marker == set(account.active_sessions) if account.active_sessions else marker.does_not_exist()
        guard &= single == account.single_marker if account.single_marker else single.does_not_exist()
        if min_balance > 0:
            # A missing balance is 0 (SPEC): only a positive minimum needs the attribute.
            guard &= AccountItem.balance >= min_balance
        actions = [marker.set({session.session_id})]
        if account.single_marker:
            actions.append(single.remove())
        with unavailable_on_failure("TransactWriteItems"):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.save(
                        new_session_item(session, self.settings.active_shards),
                        condition=SessionItem.session_id.does_not_exist(),
                        return_values=ALL_OLD,
                    )
                    tx.update(AccountItem(session.user_id), actions=actions, condition=guard, return_values=ALL_OLD)
            except TransactWriteError as error:
                reasons = _reasons(error)
                if not any(r is not None and r.code == CONDITION_FAILED for r in reasons):
                    raise
                self._raise_create_refusal(reasons)

    @staticmethod
    def _raise_create_refusal(reasons) -> None:
        session_reason, account_reason = (list(reasons) + [None, None])[:2]
        if session_reason is not None and session_reason.code == CONDITION_FAILED:
            raise SessionExists(to_session(from_raw(SessionItem, session_reason.raw_item)))
        raw = account_reason.raw_item if account_reason is not None else None
        account = to_account(from_raw(AccountItem, raw), "")
        if account.markers:
            # Set since our read: a start or an upgrade that just landed, so it is active.
            raise ActiveSessionExists(sorted(account.markers)[0])
        raise InsufficientCredit("the balance does not cover one minute at the advisor's rate")

    def commit_charge(self, session: Session, charge: Charge, drop_single_marker: bool = False) -> None:
        """Charge (and maybe end) a session in one transaction guarded by what was billed.

        Shared by end and billing: the session must still be active with the `billed_minutes`
        the charge was computed from, the balance must cover the amount, and the ledger key
        (session, first minute) must be new. Any of those failing means someone else moved
        first: ChargeConflict, and the caller re-reads. An end removes the session from the
        account's active set (a no-op if absent: no guess about what the set holds), and the
        single marker of earlier builds when it names this session. A schema-1 session not
        yet upgraded is upgraded by the same write (at the charge's instant), guarded as the upgrade is.
        """
        session_actions = [
            SessionItem.billed_minutes.set(charge.billed_after),
            SessionItem.charged.set(session.charged + charge.amount),
        ]
        if charge.ends_session:
            session_actions += [
                SessionItem.status.set("ended"),
                SessionItem.ended_at_ms.set(charge.ended_at_ms),
                SessionItem.ended_at.set(iso_ms(charge.ended_at_ms)),
                SessionItem.end_reason.set(charge.end_reason),
                SessionItem.active_shard.remove(),
            ]
        if session.is_legacy_unupgraded:
            session_actions += legacy_upgrade_actions(session, None, charge.charged_at_ms, books=False)
            session_guard = legacy_as_read(session)
        else:
            session_guard = (
                (SessionItem.status == ACTIVE)
                & (SessionItem.schema_version == session.schema_version)
                & (SessionItem.billed_minutes == session.billed_minutes)
            )
        account_actions, account_guard = [], None
        if charge.amount:
            account_actions += [
                AccountItem.balance.add(-charge.amount),
                AccountItem.debited.add(charge.amount),
            ]
            account_guard = AccountItem.balance >= charge.amount
        if charge.ends_session and not session.is_legacy_unupgraded:
            account_actions.append(AccountItem.active_sessions.delete({session.session_id}))
            if drop_single_marker:
                # Earlier builds wrote it and nothing writes it now: it names this session
                # until this end removes it.
                account_actions.append(AccountItem.active_session_id.remove())
        with unavailable_on_failure("TransactWriteItems"):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(SessionItem(session.session_id), actions=session_actions, condition=session_guard)
                    if account_actions:
                        tx.update(
                            AccountItem(session.user_id),
                            actions=account_actions,
                            condition=account_guard,
                            return_values=ALL_OLD,
                        )
                    if charge.minutes:
                        tx.save(self._ledger_item(charge), condition=LedgerItem.first_minute.does_not_exist())
            except TransactWriteError as error:
                reasons = list(_reasons(error))
                if not any(r is not None and r.code in (CONDITION_FAILED, CONFLICT) for r in reasons):
                    raise
                codes = ",".join(r.code if r is not None else "None" for r in reasons)
                account = None
                # PynamoDB sends a transaction's actions grouped (condition checks, deletes, puts,
                # updates), not in the order written: the reasons are [ledger?, session, account?].
                by_action = dict(zip((["ledger"] if charge.minutes else []) + ["session", "account"], reasons))
                session_reason, account_reason = by_action.get("session"), by_action.get("account")
                if session_reason is None and account_reason is not None and account_reason.code == CONDITION_FAILED:
                    account = to_account(from_raw(AccountItem, account_reason.raw_item), session.user_id)
                raise ChargeConflict(codes, account=account) from error

    @staticmethod
    def _ledger_item(charge: Charge) -> LedgerItem:
        return LedgerItem(
            session_id=charge.session_id,
            first_minute=charge.first_minute,
            user_id=charge.user_id,
            minutes=charge.minutes,
            amount=charge.amount,
            rate_per_minute=charge.rate_per_minute,
            charged_at_ms=charge.charged_at_ms,
            charged_at=iso_ms(charge.charged_at_ms),
            kind=charge.end_reason or "billing",
        )

    def upgrade_legacy(self, session: Session, now_ms: int) -> "LegacyUpgrade":
        """Write a schema-1 record's schema-2 form with one conditional write: the record must
        still be schema 1 and hold what `session` was read from (status, billed, charged, and
        no timer_start when the start came from created_at).

        Racing readers, billing runs and the backfill all compute the same start from the same
        record and only the first write lands; a refusal returns the record as it is now
        (DynamoDB sends it back with the refusal: no re-read). An active record also becomes
        one of the account's active sessions, so the one-active-session rule counts it from
        now on: it joins the account's active set whatever else is there.
        """
        active = session.is_active
        shard = shard_of(session.session_id, self.settings.active_shards) if active else None
        with unavailable_on_failure("TransactWriteItems"):
            # Only real DynamoDB reports TransactionConflict (another transaction on the item in
            # flight); trying again then meets that transaction's outcome instead.
            for attempt in range(ATTEMPTS):
                if attempt:
                    self._back_off(attempt)
                try:
                    with TransactWrite(connection=self._connection) as tx:
                        # Both are updates, so PynamoDB keeps this order: reasons[0] is the session.
                        tx.update(
                            SessionItem(session.session_id),
                            actions=legacy_upgrade_actions(session, shard, now_ms),
                            condition=legacy_as_read(session),
                            return_values=ALL_OLD,
                        )
                        if active:
                            tx.update(
                                AccountItem(session.user_id),
                                actions=[AccountItem.active_sessions.add({session.session_id})],
                            )
                except TransactWriteError as error:
                    reasons = list(_reasons(error))
                    if reasons and reasons[0] is not None and reasons[0].code == CONDITION_FAILED:
                        stored = from_raw(SessionItem, reasons[0].raw_item)
                        if stored is None:
                            raise SessionNotFound(session.session_id) from error
                        return LegacyUpgrade(written=False, session=to_session(stored))
                    if any(r is not None and r.code == CONFLICT for r in reasons):
                        continue
                    raise
                return LegacyUpgrade(written=True, session=session.with_changes(schema_version=CURRENT_SCHEMA))
        raise ServiceUnavailable("the session record is being changed right now; retry")

    def connect(self) -> None:
        """Create every botocore client now, on the calling thread. PynamoDB builds one lazily
        per connection, so threads that start together with none each build their own: about
        0.1 s of CPU apiece (loading botocore's service model), seen at every cold billing run."""
        self._connection.client
        for model, _ in models.TABLES.values():
            model._get_connection().connection.client


class LegacyUpgrade(NamedTuple):
    """What `upgrade_legacy` did: whether this call wrote, and the session as stored now."""

    written: bool
    session: Session
