"""GET /sessions/{id}: elapsed time computed on the server from one snapshot; the user's
polls are also what keeps their session from going idle."""

from typing import Any, Dict

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.billing import forced_end
from chalicelib.domain.presence import Presence
from chalicelib.domain.session import Session
from chalicelib.services.access import load_visible
from chalicelib.services.end import end_if_idle, presence_of, view_of
from chalicelib.services.ports import Store


def poll_session(store: Store, clock: Clock, caller_id: str, session_id: str) -> Dict[str, Any]:
    # The clock is read before the snapshot: an end that commits after the read stamps its
    # end later still, so no view of an active session runs ahead of the session's final one.
    now = clock()
    session, account = load_visible(store, clock, session_id, caller_id)
    presence = presence_of(store, session, account)
    if session.is_active:
        forced = forced_end(session, account.balance, presence, now)
        if forced is not None and forced.ends_idle:
            # Past its idle instant: the ended view, never a revival. Written here (once per
            # session) so that the user can start again at once, without waiting for billing.
            return end_if_idle(store, clock, caller_id, session_id)[1]
        if caller_id == session.user_id and presence.heartbeat_due(now):
            _record_seen(store, session, presence, now)
    return view_of(store, session, account.balance, caller_id, now)


def _record_seen(store: Store, session: Session, presence: Presence, now: int) -> None:
    """The heartbeat: at most one write per quarter of the idle limit. Its failure never fails
    the poll: the next poll is due again, and the limit leaves three more chances."""
    try:
        recorded = store.record_seen(session, presence.last_seen_ms, now)
    except Exception as error:
        observability.seen_not_recorded(session, type(error).__name__)
        return
    if not recorded:
        # Another poll recorded first, or the session just ended: nothing to do.
        observability.seen_not_recorded(session, "refused")
