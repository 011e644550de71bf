"""Builders of domain objects for the tests: sessions as the domain sees them, started at
harness.clock.START_MS unless told otherwise (times in epoch ms)."""

from chalicelib.domain.session import ACTIVE, AT_CREATION, Session
from harness.clock import START_MS


def make_session(**overrides) -> Session:
    fields = dict(
        session_id="sess_0001",
        user_id="user-1",
        advisor_id="advisor-1",
        status=ACTIVE,
        started_at_ms=START_MS,
        rate_per_minute=199,
        billed_minutes=0,
        charged=0,
        ended_at_ms=None,
        end_reason=None,
        timer_init=AT_CREATION,
    )
    fields.update(overrides)
    return Session(**fields)
