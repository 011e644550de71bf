"""Whether a start read from a schema-1 record can be believed, and how an upgrade is described.

Plain rules on domain sessions: no DynamoDB here (legacy/records.py reads the items).
"""

from typing import Optional

from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.domain.instants import iso_ms
from chalicelib.domain.session import Session

# 2001-09-09: no record of this product is older; an earlier start is a unit or writer bug
# (created_at 0, say) and would bill the user's whole balance at once.
EARLIEST_START_MS = 1_000_000_000_000
# The old release's clocks may run a little ahead of ours; a start further ahead is most
# likely milliseconds stored as seconds, and would keep the session unbilled for ever.
FUTURE_TOLERANCE_MS = 60 * 60 * 1000


def start_problem(session: Session, now_ms: int) -> Optional[str]:
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
        raise LegacyRecordUnusable(session.session_id, problem, session.user_id, session.advisor_id)


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
