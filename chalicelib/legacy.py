"""Records written by the previous release (schema 1): their upgrade on first touch.

The start rule itself (timer_start, else created_at) lives in store/records.py, where a
schema-1 item is read; this module decides when to write the upgrade and logs it.
"""
from chalicelib import observability
from chalicelib.domain.errors import SessionNotFound
from chalicelib.domain.session import CURRENT_SCHEMA, Session


def upgrade_on_touch(store, session: Session, clock) -> Session:
    """Upgrade with one conditional write; if another request won the race, use its result
    (the same start, since both derived it from the same record)."""
    if store.upgrade_legacy(session, clock()):
        lag = None
        if session.legacy_created_at_ms is not None:
            lag = session.started_at_ms - session.legacy_created_at_ms
        observability.timer_started(session, lag, lag_source="legacy_created_at")
        return session.with_changes(schema_version=CURRENT_SCHEMA)
    upgraded = store.session(session.session_id)
    if upgraded is None:
        raise SessionNotFound(session.session_id)
    return upgraded
