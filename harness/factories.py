"""Builders shared by the unit tests: sessions as the domain sees them, times in epoch ms."""
from chalicelib.domain.session import ACTIVE, AT_CREATION, Session

MINUTE = 60_000
# A fixed, readable instant: 2026-11-27T20:14:27.001Z.
T0 = 1_795_810_467_001


def make_session(**overrides) -> Session:
    fields = dict(
        session_id="sess_0001",
        user_id="user-1",
        advisor_id="advisor-1",
        status=ACTIVE,
        started_at_ms=T0,
        rate_per_minute=199,
        billed_minutes=0,
        charged=0,
        ended_at_ms=None,
        end_reason=None,
        timer_init=AT_CREATION,
    )
    fields.update(overrides)
    return Session(**fields)
