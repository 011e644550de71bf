"""The upgrade's one write: a schema-1 record gains its schema-2 attributes in place, and an
active one joins its user's active sessions, in one transaction."""

from chalicelib.domain.errors import ServiceUnavailable, SessionNotFound
from chalicelib.domain.session import CURRENT_SCHEMA, Session
from chalicelib.legacy.records import legacy_as_read, legacy_upgrade_actions
from chalicelib.legacy.upgrade import Upgraded
from chalicelib.store.connection import ALL_OLD, ATTEMPTS, StoreConnection
from chalicelib.store.failures import CONDITION_FAILED, CONFLICT, Cancelled, unavailable_on_failure
from chalicelib.store.models import AccountItem, SessionItem
from chalicelib.store.records import from_raw, last_seen_path, shard_of, to_session


def write_upgrade(store: StoreConnection, session: Session, now_ms: int) -> Upgraded:
    """Write a schema-1 record's schema-2 form with one conditional write: the record must
    still be schema 1 and hold what `session` was read from (status, billed, charged, and
    no timer_start when the start came from created_at).

    Racing readers, billing runs and the backfill all compute the same start from the same
    record and only the first write lands; a refusal returns the record as it is now
    (DynamoDB sends it back with the refusal: no re-read). An active record also becomes
    one of the account's active sessions, so the one-active-session rule counts it from
    now on: it joins the account's active set whatever else is there.
    """
    active = session.is_active
    shard = shard_of(session.session_id, store.settings.active_shards) if active else None
    with unavailable_on_failure("TransactWriteItems"):
        for attempt in range(ATTEMPTS):
            if attempt:
                store.back_off(attempt)
            try:
                with store.transaction() as tx:
                    tx.update(
                        "session",
                        SessionItem(session.session_id),
                        legacy_upgrade_actions(session, shard, now_ms),
                        legacy_as_read(session),
                        return_values=ALL_OLD,
                    )
                    if active:
                        # Seen at its upgrade: the idle rule counts from here, not from a
                        # start that may be long past.
                        tx.update(
                            "account",
                            AccountItem(session.user_id),
                            [
                                AccountItem.active_sessions.add({session.session_id}),
                                last_seen_path(session.session_id).set(now_ms),
                            ],
                        )
            except Cancelled as cancelled:
                if cancelled.code("session") == CONDITION_FAILED:
                    stored = from_raw(SessionItem, cancelled.item("session"))
                    if stored is None:
                        raise SessionNotFound(session.session_id) from cancelled
                    return Upgraded(written=False, session=to_session(stored))
                if cancelled.any(CONFLICT):
                    # Only real DynamoDB reports it (another transaction on the item in flight):
                    # trying again meets that transaction's outcome instead.
                    continue
                raise
            return Upgraded(written=True, session=session.with_changes(schema_version=CURRENT_SCHEMA))
    raise ServiceUnavailable("the session record is being changed right now; retry")
