"""POST /sessions/{id}/end: the final charge, the end, and the account's marker, together."""

from typing import Any, Dict

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.billing import settle_end
from chalicelib.domain.errors import ChargeConflict, ServiceUnavailable
from chalicelib.domain.session import CURRENT_SCHEMA, END_BY_ADVISOR, END_BY_USER
from chalicelib.domain.view import session_view
from chalicelib.legacy.rules import check_start
from chalicelib.legacy.upgrade import log_upgrade
from chalicelib.services.access import load_visible
from chalicelib.services.ports import Store

# A billing run can move billed_minutes between our read and our write; re-read and decide
# again. Losing every attempt means heavy contention: let the client retry.
ATTEMPTS = 3


def end_session(store: Store, clock: Clock, caller_id: str, session_id: str) -> Dict[str, Any]:
    for _ in range(ATTEMPTS):
        session, account = load_visible(store, clock, session_id, caller_id, upgrade_active=False)
        # Read right before the commit: the end is stamped when it lands, not when it was read.
        now = clock()
        if not session.is_active:
            return session_view(session, account.balance, caller_id, now)
        upgrading = session.is_legacy_unupgraded
        if upgrading:
            check_start(session, now)  # schema 1: upgraded by the end's own write
        reason = END_BY_USER if caller_id == session.user_id else END_BY_ADVISOR
        charge = settle_end(session, account.balance, now, reason)
        try:
            store.commit_charge(session, charge, drop_single_marker=account.single_marker == session.session_id)
        except ChargeConflict:
            continue
        ended = charge.applied_to(session)
        if upgrading:
            ended = ended.with_changes(schema_version=CURRENT_SCHEMA)
            log_upgrade(ended)
        observability.charge_committed(session, charge.minutes, charge.amount, charge.end_reason)
        return session_view(ended, account.balance - charge.amount, caller_id, now)
    raise ServiceUnavailable("the session is being billed right now; retry")
