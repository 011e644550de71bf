"""GET /sessions/{id}: elapsed time computed on the server from one snapshot."""

from typing import Any, Dict

from chalicelib.clock import Clock
from chalicelib.domain.view import session_view
from chalicelib.services.access import load_visible
from chalicelib.services.ports import Store


def poll_session(store: Store, clock: Clock, caller_id: str, session_id: str) -> Dict[str, Any]:
    # The clock is read before the snapshot: an end that commits after the read stamps its
    # end later still, so no view of an active session runs ahead of the session's final one.
    now = clock()
    session, account = load_visible(store, clock, session_id, caller_id)
    return session_view(session, account.balance, caller_id, now)
