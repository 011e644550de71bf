"""DynamoStore: every DynamoDB request the service makes, and its errors turned into domain errors.

Request budget (SPEC cost targets): start = one BatchGetItem + one TransactWriteItems;
poll = one BatchGetItem; end = one BatchGetItem + one TransactWriteItems (+ a re-read and a
retry only when a billing run raced it).
"""
import contextlib
from dataclasses import dataclass
from typing import Dict, Iterator, NamedTuple, Optional, Tuple

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.billing import Charge
from chalicelib.domain.errors import (
    ActiveSessionExists,
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


class SessionExists(Exception):
    """The session_id is already stored; the service decides between 200 and 409."""

    def __init__(self, session: Session):
        super().__init__(session.session_id)
        self.session = session


@dataclass(frozen=True)
class Snapshot:
    """What one consistent BatchGetItem returned."""

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


def _reasons(error: TransactWriteError):
    return error.cancellation_reasons if error_code(error) == "TransactionCanceledException" else []


@contextlib.contextmanager
def unavailable_on_failure(action: str):
    """Throttling, service errors and timeouts become 503 + Retry-After; nothing was committed
    (a transaction is all or nothing, and our other writes are single conditional writes)."""
    try:
        yield
    except (PynamoDBException, ClientError, BotoCoreError) as error:
        logger.warning("dynamodb %s failed: %s", action, error_code(error) or type(error).__name__)
        raise ServiceUnavailable() from error


class DynamoStore:
    def __init__(self, settings: Settings):
        self.settings = settings
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
        with unavailable_on_failure("BatchGetItem"):
            while request:
                reply = self._connection.client.batch_get_item(RequestItems=request)
                for table, items in reply.get("Responses", {}).items():
                    for raw in items:
                        found[by_table[table]] = raw
                # DynamoDB may leave keys unprocessed under load; ask again for just those.
                request = reply.get("UnprocessedKeys") or {}
        return found

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

    def account(self, user_id: str) -> Account:
        with unavailable_on_failure("GetItem"):
            try:
                item = AccountItem.get(user_id, consistent_read=True)
            except AccountItem.DoesNotExist:
                item = None
        return to_account(item, user_id)

    def session(self, session_id: str) -> Optional[Session]:
        with unavailable_on_failure("GetItem"):
            try:
                return to_session(SessionItem.get(session_id, consistent_read=True))
            except SessionItem.DoesNotExist:
                return None

    def active_sessions(self, shard: int) -> Iterator[Session]:
        """Active sessions of one shard, page by page (the sparse index: never a scan)."""
        with unavailable_on_failure("Query"):
            for item in SessionItem.active_by_shard.query(shard, page_size=100):
                yield to_session(item)

    # ---- writes ------------------------------------------------------------------------

    def create_session(self, session: Session, min_balance: int) -> None:
        """One transaction: the session item (holding its start) and the account's guard.

        Raises SessionExists, ActiveSessionExists or InsufficientCredit from the cancellation
        reasons (and the items DynamoDB returns with them), never from message text.
        """
        with unavailable_on_failure("TransactWriteItems"):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.save(
                        new_session_item(session, self.settings.active_shards),
                        condition=SessionItem.session_id.does_not_exist(),
                        return_values=ALL_OLD,
                    )
                    tx.update(
                        AccountItem(session.user_id),
                        actions=[AccountItem.active_session_id.set(session.session_id)],
                        condition=(AccountItem.balance >= min_balance)
                        & AccountItem.active_session_id.does_not_exist(),
                        return_values=ALL_OLD,
                    )
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
        if account.active_session_id:
            raise ActiveSessionExists(account.active_session_id)
        raise InsufficientCredit("the balance does not cover one minute at the advisor's rate")

    def commit_charge(self, session: Session, charge: Charge, clear_marker: bool) -> None:
        """Charge (and maybe end) a session in one transaction guarded by what was billed.

        Shared by end and billing: the session must still be active with the `billed_minutes`
        the charge was computed from, the balance must cover the amount, and the ledger key
        (session, first minute) must be new. Any of those failing means someone else moved
        first: ChargeConflict, and the caller re-reads.
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
        if clear_marker and charge.ends_session:
            account_actions.append(AccountItem.active_session_id.remove())
            marker_guard = AccountItem.active_session_id == session.session_id
            account_guard = marker_guard if account_guard is None else account_guard & marker_guard
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
                if not any(r is not None and r.code in (CONDITION_FAILED, "TransactionConflict") for r in reasons):
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
        the account's active session unless one is already set, so the one-active-session
        rule counts it from now on.
        """
        active = session.is_active
        shard = shard_of(session.session_id, self.settings.active_shards) if active else None
        with unavailable_on_failure("TransactWriteItems"):
            # Only real DynamoDB reports TransactionConflict (another transaction on the item in
            # flight); trying again then meets that transaction's outcome instead.
            for _ in range(3):
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
                            marker = AccountItem.active_session_id
                            tx.update(AccountItem(session.user_id), actions=[marker.set(marker | session.session_id)])
                except TransactWriteError as error:
                    reasons = list(_reasons(error))
                    if reasons and reasons[0] is not None and reasons[0].code == CONDITION_FAILED:
                        stored = from_raw(SessionItem, reasons[0].raw_item)
                        if stored is None:
                            raise SessionNotFound(session.session_id) from error
                        return LegacyUpgrade(written=False, session=to_session(stored))
                    if any(r is not None and r.code == "TransactionConflict" for r in reasons):
                        continue
                    raise
                return LegacyUpgrade(written=True, session=session.with_changes(schema_version=CURRENT_SCHEMA))
        raise ServiceUnavailable("the session record is being changed right now; retry")

    # ---- added for the billing run (issue 3) ---------------------------------------------

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
