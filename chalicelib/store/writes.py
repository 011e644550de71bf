"""The store's writes: a session's creation and every charge, each one transaction whose
conditions carry the service's guarantees (one active session per user, each minute once)."""

from typing import Any, List, Optional

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib.domain.billing import Charge
from chalicelib.domain.errors import ActiveSessionExists, ChargeConflict, InsufficientCredit
from chalicelib.domain.instants import iso_ms
from chalicelib.domain.session import ACTIVE, ENDED, Account, Session
from chalicelib.services.ports import SessionExists
from chalicelib.store.connection import ALL_OLD, StoreConnection
from chalicelib.store.failures import (
    CONDITION_CHECK_FAILED,
    CONDITION_FAILED,
    CONFLICT,
    Cancelled,
    error_code,
    unavailable_on_failure,
)
from chalicelib.store.models import AccountItem, LedgerItem, SessionItem
from chalicelib.store.records import (
    account_from_raw,
    last_seen_path,
    ledger_item,
    new_session_item,
    session_from_raw,
)


class StoreWrites(StoreConnection):
    def create_session(self, session: Session, min_balance: int, account: Account, seen_at_ms: int) -> None:
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
            # A missing balance is 0: only a positive minimum needs the attribute.
            guard &= AccountItem.balance >= min_balance
        # The start is the user's first sighting: the idle rule counts from it.
        actions = [marker.set({session.session_id}), last_seen_path(session.session_id).set(seen_at_ms)]
        if account.single_marker:
            actions.append(single.remove())
        with unavailable_on_failure("TransactWriteItems"):
            try:
                with self.transaction() as tx:
                    tx.put(
                        "session",
                        new_session_item(session, self.settings.active_shards),
                        condition=SessionItem.session_id.does_not_exist(),
                        return_values=ALL_OLD,
                    )
                    tx.update("account", AccountItem(session.user_id), actions, guard, return_values=ALL_OLD)
            except Cancelled as cancelled:
                _raise_create_refusal(cancelled)

    def record_seen(self, session: Session, last_seen_ms: Optional[int], now_ms: int) -> bool:
        """The user's poll records them as seen now: one conditional UpdateItem on the account.

        Conditioned on the session still being one of the account's active sessions (an end
        removes it: nothing is written for an ended session) and on its last-seen still being
        what the poll read (`last_seen_ms`, None: none recorded). So a session that went idle
        is never revived: its idle end either landed first, or is refused by the change this
        write makes. False when a condition refused it (a concurrent poll recorded first, or
        the session ended).
        """
        seen = last_seen_path(session.session_id)
        member = AccountItem.active_sessions.contains(session.session_id)
        member |= AccountItem.active_session_id == session.session_id
        unchanged = seen.does_not_exist() if last_seen_ms is None else seen == last_seen_ms
        with unavailable_on_failure("UpdateItem"):
            try:
                AccountItem(session.user_id).update(actions=[seen.set(now_ms)], condition=member & unchanged)
            except UpdateError as error:
                if error_code(error) == CONDITION_CHECK_FAILED:
                    return False
                raise
        return True

    def commit_charge(self, session: Session, charge: Charge, drop_single_marker: bool = False) -> None:
        """Charge (and maybe end) a session in one transaction guarded by what was billed.

        Shared by end and billing: the session must still be active with the `billed_minutes`
        the charge was computed from, the balance must cover the amount, and the ledger key
        (session, first minute) must be new. Any of those failing means someone else moved
        first: ChargeConflict, and the caller re-reads. An end removes the session from the
        account's active set (a no-op if absent: no guess about what the set holds), and the
        single marker of earlier builds when it names this session. A schema-1 session not
        yet upgraded is upgraded by the same write (at the charge's instant), guarded as the
        upgrade is.
        """
        session_actions, session_guard = _session_change(session, charge)
        account_actions: List[Any] = []
        account_guard: Optional[Condition] = None
        if charge.amount:
            account_actions += [
                AccountItem.balance.add(-charge.amount),
                AccountItem.debited.add(charge.amount),
            ]
            account_guard = AccountItem.balance >= charge.amount
        if not session.is_legacy_unupgraded:  # schema 1 is on no marker and has no last-seen yet
            seen_actions, seen_guard = _last_seen_change(session, charge)
            account_actions += seen_actions
            account_guard = seen_guard if account_guard is None else account_guard & seen_guard
        if charge.ends_session and not session.is_legacy_unupgraded:
            account_actions.append(AccountItem.active_sessions.delete({session.session_id}))
            if drop_single_marker:
                # Earlier builds wrote it and nothing writes it now: it names this session
                # until this end removes it.
                account_actions.append(AccountItem.active_session_id.remove())
        with unavailable_on_failure("TransactWriteItems"):
            try:
                with self.transaction() as tx:
                    tx.update("session", SessionItem(session.session_id), session_actions, session_guard)
                    if account_actions:
                        tx.update(
                            "account",
                            AccountItem(session.user_id),
                            account_actions,
                            account_guard,
                            return_values=ALL_OLD,
                        )
                    if charge.minutes:
                        tx.put("ledger", ledger_item(charge), condition=LedgerItem.first_minute.does_not_exist())
            except Cancelled as cancelled:
                if not cancelled.any(CONDITION_FAILED, CONFLICT):
                    raise
                account = None
                if cancelled.code("session") is None and cancelled.code("account") == CONDITION_FAILED:
                    # Only the balance refused: the balance it holds decides the next attempt.
                    account = account_from_raw(cancelled.item("account"), session.user_id)
                raise ChargeConflict(str(cancelled), account=account) from cancelled


def _raise_create_refusal(cancelled: Cancelled) -> None:
    if cancelled.code("session") == CONDITION_FAILED:
        stored = session_from_raw(cancelled.item("session"))
        assert stored is not None, "a refused does-not-exist condition returns the item (ALL_OLD)"
        raise SessionExists(stored)
    if cancelled.code("account") != CONDITION_FAILED:
        raise cancelled
    account = account_from_raw(cancelled.item("account"), "")
    if account.markers:
        # Set since our read: a start or an upgrade that just landed, so it is active.
        raise ActiveSessionExists(sorted(account.markers)[0])
    raise InsufficientCredit("the balance does not cover one minute at the advisor's rate")


def _last_seen_change(session: Session, charge: Charge) -> "tuple[List[Any], Condition]":
    """What a charge writes on, and requires of, the user's last-seen for the session.

    An idle end requires the very last-seen it was decided from (a poll that recorded the
    user since then makes it wrong), any other charge that the user was seen after the
    charge's cutoff or never recorded (billing decides without reading the account: this is
    where it learns the user left). An end removes the attribute; a charge that does not end
    records the user as seen now if nothing was recorded yet (a session of the previous
    release: its idle clock starts at its first charge by this release).
    """
    seen = last_seen_path(session.session_id)
    guard: Condition
    if charge.ends_idle:
        guard = seen == charge.last_seen_ms
    else:
        guard = seen.does_not_exist()
        if charge.seen_since_ms is not None:
            guard |= seen >= charge.seen_since_ms
    action = seen.remove() if charge.ends_session else seen.set(seen | charge.charged_at_ms)
    return [action], guard


def _session_change(session: Session, charge: Charge) -> "tuple[List[Any], Condition]":
    """What a charge writes on the session item, and the condition that it is still as read."""
    actions = [
        SessionItem.billed_minutes.set(charge.billed_after),
        SessionItem.charged.set(session.charged + charge.amount),
    ]
    if charge.end_reason is not None:
        assert charge.ended_at_ms is not None, "a charge that ends a session carries its end"
        actions += [
            SessionItem.status.set(ENDED),
            SessionItem.ended_at_ms.set(charge.ended_at_ms),
            SessionItem.ended_at.set(iso_ms(charge.ended_at_ms)),
            SessionItem.end_reason.set(charge.end_reason),
            SessionItem.active_shard.remove(),
        ]
    if session.is_legacy_unupgraded:  # schema 1: upgraded by the same write
        from chalicelib.legacy.records import legacy_as_read, legacy_upgrade_actions

        actions += legacy_upgrade_actions(session, None, charge.charged_at_ms, books=False)
        return actions, legacy_as_read(session)
    guard = (
        (SessionItem.status == ACTIVE)
        & (SessionItem.schema_version == session.schema_version)
        & (SessionItem.billed_minutes == session.billed_minutes)
    )
    return actions, guard
