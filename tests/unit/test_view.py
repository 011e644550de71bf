"""docs/contract.md "Session view", and timer rule 3 (elapsed never decreases) as the view shows it."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.billing import settle_billing, settle_end
from chalicelib.domain.presence import Presence
from chalicelib.domain.session import (
    AT_CREATION,
    END_BY_USER,
    END_CREDITS_EXHAUSTED,
    ENDED,
    LEGACY_CREATED_AT,
    LEGACY_TIMER_START,
)
from chalicelib.domain.view import session_view
from harness.clock import MINUTE_MS, START_MS
from harness.factories import make_session

# A user this release has not recorded yet: the idle rule does not apply (tests/unit/test_idle.py).
UNSEEN = Presence(idle_ms=120_000)

CONTRACT_FIELDS = {
    "idle_timeout_seconds",
    "session_id",
    "user_id",
    "advisor_id",
    "status",
    "started_at",
    "ended_at",
    "end_reason",
    "server_time",
    "elapsed_seconds",
    "rate_per_minute",
    "billed_minutes",
    "charged",
    "balance",
    "seconds_remaining",
    "timer",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def parse_iso(value):
    assert ISO_MS.fullmatch(value), value
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def ms_of(seconds):
    """A view number back to exact ms; fails if it carries more than ms precision."""
    exact = Decimal(repr(seconds)) * 1000
    assert exact == exact.to_integral_value(), seconds
    return int(exact)


def test_view_of_the_user_has_exactly_the_spec_fields():
    session = make_session(billed_minutes=1, charged=199)
    view = session_view(session, 5_000, session.user_id, START_MS + 61_500)
    assert set(view) == CONTRACT_FIELDS
    assert set(view["timer"]) == {"state", "initialized"}


def test_view_of_an_active_session_values():
    session = make_session(billed_minutes=1, charged=199, rate_per_minute=199)
    now = START_MS + 61_500
    view = session_view(session, 5_000, session.user_id, now)
    assert view["session_id"] == session.session_id
    assert view["user_id"] == session.user_id
    assert view["advisor_id"] == session.advisor_id
    assert view["status"] == "active"
    assert parse_iso(view["started_at"]) == START_MS
    assert view["ended_at"] is None
    assert view["end_reason"] is None
    assert parse_iso(view["server_time"]) == now
    assert ms_of(view["elapsed_seconds"]) == 61_500
    assert view["rate_per_minute"] == 199
    assert view["billed_minutes"] == 1
    assert view["charged"] == 199
    assert view["balance"] == 5_000
    cap = (1 + 5_000 // 199) * MINUTE_MS
    assert ms_of(view["seconds_remaining"]) == cap - 61_500
    assert view["timer"] == {"state": "running", "initialized": "at_creation"}


def test_view_types():
    session = make_session()
    view = session_view(session, 5_000, session.user_id, START_MS + 1_234)
    for key in ("rate_per_minute", "billed_minutes", "charged", "balance"):
        assert type(view[key]) is int, key
    for key in ("elapsed_seconds", "seconds_remaining"):
        assert isinstance(view[key], (int, float)) and not isinstance(view[key], bool), key


def test_balance_is_only_shown_to_the_sessions_user():
    session = make_session(user_id="user-1", advisor_id="advisor-1")
    for_advisor = session_view(session, 5_000, "advisor-1", START_MS + 1_000)
    assert "balance" not in for_advisor
    assert set(for_advisor) == CONTRACT_FIELDS - {"balance"}
    assert session_view(session, 5_000, "user-1", START_MS + 1_000)["balance"] == 5_000


def test_zero_balance_is_still_shown_to_the_user():
    session = make_session()
    view = session_view(session, 0, session.user_id, START_MS)
    assert view["balance"] == 0


def test_ended_view():
    ended_at = START_MS + 2 * MINUTE_MS + 7
    session = make_session(status=ENDED, ended_at_ms=ended_at, end_reason=END_BY_USER, billed_minutes=3, charged=597)
    now = ended_at + 3 * 60 * MINUTE_MS
    view = session_view(session, 1_000, session.user_id, now)
    assert view["status"] == "ended"
    assert parse_iso(view["ended_at"]) == ended_at
    assert view["end_reason"] == "user"
    assert parse_iso(view["server_time"]) == now
    assert ms_of(view["elapsed_seconds"]) == 2 * MINUTE_MS + 7
    assert view["seconds_remaining"] is None
    assert view["timer"]["state"] == "stopped"


def test_ended_schema1_view_without_end_time():
    session = make_session(
        status=ENDED, ended_at_ms=None, billed_minutes=4, timer_init=LEGACY_TIMER_START, schema_version=1
    )
    view = session_view(session, 0, session.user_id, START_MS + 999 * MINUTE_MS)
    assert view["ended_at"] is None
    assert ms_of(view["elapsed_seconds"]) == 4 * MINUTE_MS
    assert view["seconds_remaining"] is None
    assert view["timer"] == {"state": "stopped", "initialized": "legacy"}


def test_timer_stops_when_the_credits_are_used_up_before_any_end_is_recorded():
    session = make_session(rate_per_minute=100)
    balance = 200  # two minutes
    before = session_view(session, balance, session.user_id, START_MS + 2 * MINUTE_MS - 1)
    assert before["timer"]["state"] == "running"
    assert before["status"] == "active"
    at_cap = session_view(session, balance, session.user_id, START_MS + 2 * MINUTE_MS)
    assert at_cap["timer"]["state"] == "stopped"
    assert at_cap["seconds_remaining"] == 0
    later = session_view(session, balance, session.user_id, START_MS + 9 * MINUTE_MS)
    assert later["status"] == "active"  # not recorded yet
    assert later["timer"]["state"] == "stopped"
    assert ms_of(later["elapsed_seconds"]) == 2 * MINUTE_MS
    assert later["seconds_remaining"] == 0


def test_free_session_keeps_running_with_no_remaining_time():
    session = make_session(rate_per_minute=0)
    view = session_view(session, 0, session.user_id, START_MS + 9 * MINUTE_MS)
    assert view["timer"]["state"] == "running"
    assert view["seconds_remaining"] is None


@pytest.mark.parametrize(
    "timer_init, shown",
    [(AT_CREATION, "at_creation"), (LEGACY_TIMER_START, "legacy"), (LEGACY_CREATED_AT, "legacy")],
)
def test_timer_initialized(timer_init, shown):
    session = make_session(timer_init=timer_init)
    assert session_view(session, 1_000, session.user_id, START_MS)["timer"]["initialized"] == shown


def test_clock_behind_the_writer_shows_zero_not_negative():
    session = make_session()
    view = session_view(session, 1_000, session.user_id, START_MS - 3)
    assert view["elapsed_seconds"] == 0
    assert view["timer"]["state"] == "running"


@settings(max_examples=300, deadline=None)
@given(elapsed=st.integers(0, 10 * 366 * 24 * 60 * MINUTE_MS), balance=st.integers(0, 10**10))
def test_elapsed_and_remaining_seconds_have_exact_ms_precision(elapsed, balance):
    session = make_session(rate_per_minute=1)
    view = session_view(session, balance, session.user_id, START_MS + elapsed)
    cap = balance * MINUTE_MS
    assert ms_of(view["elapsed_seconds"]) == min(elapsed, cap)
    assert ms_of(view["seconds_remaining"]) == cap - min(elapsed, cap)


@settings(max_examples=200, deadline=None)
@given(offset=st.integers(0, 10**11))
def test_iso_fields_end_with_z_and_have_ms_precision(offset):
    ended = make_session(status=ENDED, ended_at_ms=START_MS + offset, end_reason=END_BY_USER)
    now = START_MS + offset + 17
    view = session_view(ended, 0, "someone", now)
    for key, expected in (("started_at", START_MS), ("ended_at", START_MS + offset), ("server_time", now)):
        assert view[key].endswith("Z")
        assert parse_iso(view[key]) == expected


# Timer rule 3: one session's elapsed_seconds never decreases from one response to the next,
# across billing runs, exhaustion and the end.
_EVENT = st.tuples(st.sampled_from(["poll", "bill", "bill_known", "end"]), st.integers(0, 5 * MINUTE_MS))


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 300),
    start_balance=st.integers(0, 3_000),
    events=st.lists(_EVENT, min_size=1, max_size=30),
)
def test_elapsed_seconds_never_decreases(rate, start_balance, events):
    session = make_session(rate_per_minute=rate)
    balance = start_balance
    now = START_MS - 5  # the first poll may come from a clock a little behind the writer
    shown = []
    for kind, step in events:
        now += step
        if kind == "poll":
            shown.append(session_view(session, balance, session.user_id, now)["elapsed_seconds"])
            continue
        if session.status == ENDED:
            continue
        if kind == "end":
            charge = settle_end(session, balance, UNSEEN, now, END_BY_USER)
        else:
            charge = settle_billing(session, balance if kind == "bill_known" else None, UNSEEN, now)
            if charge is not None and charge.amount > balance:
                charge = settle_billing(session, balance, UNSEEN, now)
        if charge is None:
            continue
        assert charge.amount <= balance
        session, balance = charge.applied_to(session), balance - charge.amount
        shown.append(session_view(session, balance, session.user_id, now)["elapsed_seconds"])
    shown.append(session_view(session, balance, session.user_id, now + 60 * MINUTE_MS)["elapsed_seconds"])
    assert shown == sorted(shown)
    if session.status == ENDED and session.end_reason == END_CREDITS_EXHAUSTED:
        assert ms_of(shown[-1]) == (start_balance // rate) * MINUTE_MS
