"""GET /sessions/{id}: elapsed time computed on the server, one consistent read."""
from typing import Any, Dict

from chalicelib.domain.view import session_view
from chalicelib.services import Clock
from chalicelib.services.access import load_visible
from chalicelib.store.dynamo import DynamoStore


def poll_session(store: DynamoStore, clock: Clock, caller_id: str, session_id: str) -> Dict[str, Any]:
    session, account = load_visible(store, clock, session_id, caller_id)
    return session_view(session, account.balance, caller_id, clock())
