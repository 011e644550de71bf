"""The upgrade of a schema-1 record, on first touch or by the backfill, and its log lines.

How a schema-1 item reads as a session lives in legacy/records.py; this module decides whether
its start is believable (legacy/rules.py), writes the upgrade through the store's one
conditional write, and logs the timer line.
"""

from typing import NamedTuple, Optional, Protocol, Tuple

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.errors import LegacyRecordUnusable, ServiceUnavailable
from chalicelib.domain.session import Session
from chalicelib.legacy.rules import check_start

UPGRADED = "upgraded"
UPGRADED_ELSEWHERE = "upgraded_elsewhere"

# The record kept changing between our read and our write: the old release is still writing
# to it. Let the caller retry later rather than spin.
ATTEMPTS = 3


class Upgraded(NamedTuple):
    """What one upgrade write did: whether this call wrote, and the session as stored now."""

    written: bool
    session: Session


class UpgradeWriter(Protocol):
    """The one write the upgrade needs (services.ports.Store has it too)."""

    def upgrade_legacy(self, session: Session, now_ms: int) -> Upgraded: ...


def upgrade(store: UpgradeWriter, session: Session, clock: Clock) -> Tuple[str, Session, int]:
    """Upgrade one schema-1 session in place; returns what happened, the session as stored
    now, and the instant the upgrade was written at (an active session's user counts as seen
    then). Raises LegacyRecordUnusable for a start that cannot be right."""
    for _ in range(ATTEMPTS):
        at = clock()
        check_start(session, at)
        result = store.upgrade_legacy(session, at)
        if result.written:
            log_upgrade(result.session)
            return UPGRADED, result.session, at
        if not result.session.is_legacy_unupgraded:
            # Someone else upgraded it from the same record: the same start, logged by them.
            return UPGRADED_ELSEWHERE, result.session, at
        session = result.session  # changed since we read it: decide again from what it holds
    raise ServiceUnavailable("the session record of the previous release keeps changing; retry")


def upgrade_on_touch(store: UpgradeWriter, session: Session, clock: Clock) -> Tuple[Session, Optional[int]]:
    """The first request that touches a schema-1 session upgrades it: the session as stored
    now, and when this upgrade recorded its user as seen (None: not this call, or not active)."""
    outcome, upgraded, at = upgrade(store, session, clock)
    return upgraded, at if outcome == UPGRADED and upgraded.is_active else None


def log_upgrade(session: Session) -> None:
    """The timer line of an upgraded record; its lag is how long after the record was written
    the old release started the timer (0 when the start is the creation)."""
    lag = None
    if session.legacy_created_at_ms is not None:
        lag = session.started_at_ms - session.legacy_created_at_ms
    observability.timer_started(session, lag, lag_source="legacy_created_at")


def log_skipped(unusable: LegacyRecordUnusable) -> None:
    """A record no upgrade will touch until a person repairs it: worth a warning each."""
    observability.legacy_unusable(unusable.session_id, unusable.problem, event="legacy_skipped")
