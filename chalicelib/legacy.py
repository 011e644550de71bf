"""Records written by the previous release (schema 1): their upgrade, on first touch or by
the backfill, and its log line.

How a schema-1 item reads as a session (start = timer_start, else created_at) lives in
store/records.py; this module decides whether a start is believable, writes the upgrade
through the store's one conditional write, and logs it as SPEC's timer line.
"""
from typing import Tuple

from chalicelib import observability
from chalicelib.domain.errors import LegacyRecordUnusable, ServiceUnavailable
from chalicelib.domain.instants import iso_ms
from chalicelib.domain.session import Session
from chalicelib.services import Clock

UPGRADED = "upgraded"
UPGRADED_ELSEWHERE = "upgraded_elsewhere"

# 2001-09-09: no record of this product is older; an earlier start is a unit or writer bug
# (created_at 0, say) and would bill the user's whole balance at once.
EARLIEST_START_MS = 1_000_000_000_000
# The old release's clocks may run a little ahead of ours; a start further ahead is most
# likely milliseconds stored as seconds, and would keep the session unbilled for ever.
FUTURE_TOLERANCE_MS = 60 * 60 * 1000
# The record kept changing between our read and our write: the old release is still writing
# to it. Let the caller retry later rather than spin.
ATTEMPTS = 3


def start_problem(session: Session, now_ms: int):
    """Why the start read from a schema-1 record cannot be right, or None."""
    if session.started_at_ms < EARLIEST_START_MS:
        return f"start before {iso_ms(EARLIEST_START_MS)}"
    if session.started_at_ms > now_ms + FUTURE_TOLERANCE_MS:
        return "start more than an hour in the future"
    return None


def check_start(session: Session, now_ms: int) -> None:
    """Raises LegacyRecordUnusable for a start that cannot be right: no upgrade may write it."""
    problem = start_problem(session, now_ms)
    if problem is not None:
        raise LegacyRecordUnusable(session.session_id, problem, parties=(session.user_id, session.advisor_id))


def upgrade(store, session: Session, clock: Clock) -> Tuple[str, Session]:
    """Upgrade one schema-1 session in place; returns what happened and the session as
    stored now. Raises LegacyRecordUnusable for a start that cannot be right."""
    for _ in range(ATTEMPTS):
        check_start(session, clock())
        result = store.upgrade_legacy(session, clock())
        if result.written:
            log_upgrade(result.session)
            return UPGRADED, result.session
        if not result.session.is_legacy_unupgraded:
            # Someone else upgraded it from the same record: the same start, logged by them.
            return UPGRADED_ELSEWHERE, result.session
        session = result.session  # changed since we read it: decide again from what it holds
    raise ServiceUnavailable("the session record of the previous release keeps changing; retry")


def upgrade_on_touch(store, session: Session, clock: Clock) -> Session:
    """The first request that touches a schema-1 session upgrades it; the session as stored now."""
    return upgrade(store, session, clock)[1]


def log_upgrade(session: Session) -> None:
    """SPEC's timer line for an upgraded record; its lag is how long after the record was
    written the old release started the timer (0 when the start is the creation)."""
    lag = None
    if session.legacy_created_at_ms is not None:
        lag = session.started_at_ms - session.legacy_created_at_ms
    observability.timer_started(session, lag, lag_source="legacy_created_at")


def log_skipped(unusable: LegacyRecordUnusable) -> None:
    """A record no upgrade will touch until a person repairs it: worth a warning each."""
    observability.logger.warning(
        "legacy record skipped",
        extra={"event": "legacy_skipped", "session_id": unusable.session_id, "reason": unusable.problem},
    )


def describe(session: Session) -> str:
    """One line saying what the upgrade writes (the backfill's dry run prints it)."""
    parts = [
        session.session_id,
        session.status,
        f"start {iso_ms(session.started_at_ms)} ({session.timer_init})",
        f"billed {session.billed_minutes} min",
        f"charged {session.charged}",
    ]
    if session.ended_at_ms is not None:
        parts.append(f"ended {iso_ms(session.ended_at_ms)}")
    if session.is_active:
        parts.append(f"active session of {session.user_id} if none is set")
    return ", ".join(parts)
