"""Loading a session as a caller may see it: 404 to anyone but its user and advisor."""

from dataclasses import replace
from typing import Tuple

from chalicelib.clock import Clock
from chalicelib.domain.errors import LegacyRecordUnusable, SessionNotFound
from chalicelib.domain.session import Account, Session
from chalicelib.services.ports import Store


def _visible(store: Store, session_id: str, caller_id: str, user_id: str) -> Tuple[Session, Account]:
    try:
        view = store.view(session_id, user_id)
    except LegacyRecordUnusable as unusable:
        if caller_id not in unusable.parties:
            raise SessionNotFound(session_id) from unusable
        raise
    if view.session is None or caller_id not in (view.session.user_id, view.session.advisor_id):
        raise SessionNotFound(session_id)
    return view.session, view.account


def load_visible(
    store: Store, clock: Clock, session_id: str, caller_id: str, upgrade_active: bool = True
) -> Tuple[Session, Account]:
    """The session and its user's account, read as one snapshot: one TransactGetItems when
    the caller is the user; an advisor's first read names the user whose balance the view
    needs, the second reads both at one instant.

    A schema-1 session is upgraded on this first touch, unless it is active and the caller
    (an end) upgrades it in its own write (`upgrade_active=False`).
    """
    session, account = _visible(store, session_id, caller_id, caller_id)
    if session.user_id != caller_id:
        session, account = _visible(store, session_id, caller_id, session.user_id)
    if session.is_legacy_unupgraded and (upgrade_active or not session.is_active):
        from chalicelib.legacy.upgrade import upgrade_on_touch  # schema 1

        session, seen_at = upgrade_on_touch(store, session, clock)
        if seen_at is not None:  # the upgrade's write recorded its user as seen
            account = replace(account, last_seen={**account.last_seen, session.session_id: seen_at})
    return session, account
