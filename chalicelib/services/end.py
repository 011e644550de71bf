"""POST /sessions/{id}/end, and the end of a session found idle: the final charge, the end,
and the account's marker, together."""

from typing import Any, Callable, Dict, Optional, Tuple

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.billing import Charge, forced_end, settle_end
from chalicelib.domain.errors import ChargeConflict, ServiceUnavailable
from chalicelib.domain.presence import Presence
from chalicelib.domain.session import CURRENT_SCHEMA, END_BY_ADVISOR, END_BY_USER, Account, Session
from chalicelib.domain.view import session_view
from chalicelib.services.access import load_visible
from chalicelib.services.ports import Store

# A billing run can move billed_minutes between our read and our write; re-read and decide
# again. Losing every attempt means heavy contention: let the client retry.
ATTEMPTS = 3

# What to charge an active session now, from the session, its account and its user's
# presence; None: nothing to write (the session stays as it is).
Decision = Callable[[Session, Account, Presence, int], Optional[Charge]]


def presence_of(store: Store, session: Session, account: Account) -> Presence:
    return Presence(store.settings.session_idle_ms, account.last_seen_of(session.session_id))


def view_of(store: Store, session: Session, balance: int, caller_id: str, now: int) -> Dict[str, Any]:
    return session_view(session, balance, caller_id, now, store.settings.session_idle_seconds)


def end_session(store: Store, clock: Clock, caller_id: str, session_id: str) -> Dict[str, Any]:
    def by_caller(session: Session, account: Account, presence: Presence, now: int) -> Charge:
        reason = END_BY_USER if caller_id == session.user_id else END_BY_ADVISOR
        return settle_end(session, account.balance, presence, now, reason)

    return settle(store, clock, caller_id, session_id, by_caller)[1]


def end_if_idle(store: Store, clock: Clock, caller_id: str, session_id: str) -> Tuple[Session, Dict[str, Any]]:
    """A poll's or a start's end of a session whose user went away: written only if it is
    still idle when read again (a poll of its user may have recorded them since)."""

    def only_idle(session: Session, account: Account, presence: Presence, now: int) -> Optional[Charge]:
        charge = forced_end(session, account.balance, presence, now)
        return charge if charge is not None and charge.ends_idle else None

    return settle(store, clock, caller_id, session_id, only_idle)


def settle(
    store: Store, clock: Clock, caller_id: str, session_id: str, decide: Decision
) -> Tuple[Session, Dict[str, Any]]:
    """Read, decide, commit the charge `decide` returns; again from a fresh read when a
    concurrent writer moved first. The session as it is now, and its view."""
    for _ in range(ATTEMPTS):
        session, account = load_visible(store, clock, session_id, caller_id, upgrade_active=False)
        # Read right before the commit: the end is stamped when it lands, not when it was read.
        now = clock()
        charge = decide(session, account, presence_of(store, session, account), now) if session.is_active else None
        if charge is None:
            return session, view_of(store, session, account.balance, caller_id, now)
        upgrading = session.is_legacy_unupgraded
        if upgrading:  # schema 1: upgraded by the end's own write
            from chalicelib.legacy.rules import check_start

            check_start(session, now)
        try:
            store.commit_charge(session, charge, drop_single_marker=account.single_marker == session.session_id)
        except ChargeConflict:
            continue
        ended = charge.applied_to(session)
        if upgrading:
            from chalicelib.legacy.upgrade import log_upgrade  # schema 1

            ended = ended.with_changes(schema_version=CURRENT_SCHEMA)
            log_upgrade(ended)
        observability.charge_committed(session, charge.minutes, charge.amount, charge.end_reason)
        return ended, view_of(store, ended, account.balance - charge.amount, caller_id, now)
    raise ServiceUnavailable("the session is being billed right now; retry")
