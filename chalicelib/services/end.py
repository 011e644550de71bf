"""POST /sessions/{id}/end: the final charge, the end, and the account's marker, together."""
from typing import Any, Dict

from chalicelib import observability
from chalicelib.domain.billing import settle_end
from chalicelib.domain.errors import ChargeConflict, ServiceUnavailable
from chalicelib.domain.session import END_BY_ADVISOR, END_BY_USER
from chalicelib.domain.view import session_view
from chalicelib.services import Clock
from chalicelib.services.access import load_visible
from chalicelib.store.dynamo import DynamoStore

# A billing run can move billed_minutes between our read and our write; re-read and decide
# again. Three losses in a row means heavy contention: let the client retry.
ATTEMPTS = 3


def end_session(store: DynamoStore, clock: Clock, caller_id: str, session_id: str) -> Dict[str, Any]:
    for _ in range(ATTEMPTS):
        session, account = load_visible(store, clock, session_id, caller_id)
        now = clock()
        if not session.is_active:
            return session_view(session, account.balance, caller_id, now)
        reason = END_BY_USER if caller_id == session.user_id else END_BY_ADVISOR
        charge = settle_end(session, account.balance, now, reason)
        try:
            store.commit_charge(session, charge, clear_marker=account.active_session_id == session.session_id)
        except ChargeConflict:
            continue
        observability.charge_committed(session, charge.minutes, charge.amount, charge.end_reason)
        return session_view(charge.applied_to(session), account.balance - charge.amount, caller_id, now)
    raise ServiceUnavailable("the session is being billed right now; retry")
