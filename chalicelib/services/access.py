"""Loading a session as a caller may see it: 404 to anyone but its user and advisor."""
from typing import Tuple

from chalicelib import legacy
from chalicelib.domain.errors import LegacyRecordUnusable, SessionNotFound
from chalicelib.domain.session import Account, Session
from chalicelib.services import Clock
from chalicelib.store.dynamo import DynamoStore


def load_visible(store: DynamoStore, clock: Clock, session_id: str, caller_id: str) -> Tuple[Session, Account]:
    """The session and its user's account. One BatchGetItem when the caller is the user; an
    advisor's poll needs a second read for the user's balance (it drives the credit cap)."""
    try:
        snap = store.read(session_id=session_id, user_id=caller_id)
    except LegacyRecordUnusable as unusable:
        if caller_id not in unusable.parties:
            raise SessionNotFound(session_id) from unusable
        raise
    session = snap.session
    if session is None or caller_id not in (session.user_id, session.advisor_id):
        raise SessionNotFound(session_id)
    account = snap.account if session.user_id == caller_id else store.account(session.user_id)
    if session.is_legacy_unupgraded:
        session, account = legacy.upgrade_on_touch(store, session, account, clock)
    return session, account
