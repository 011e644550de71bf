"""docs/contract.md "Timer rules" and the started-minute rule of "Billing rules", on pure values."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.session import END_BY_USER, ENDED, LEGACY_TIMER_START
from chalicelib.domain.timer import (
    credit_cap_ms,
    elapsed_ms,
    minutes_owed,
    raw_elapsed_ms,
    remaining_ms,
)
from harness.clock import HOUR_MS, MINUTE_MS, START_MS
from harness.factories import make_session

TEN_YEARS_MS = 10 * 365 * 24 * HOUR_MS + 2 * 24 * HOUR_MS  # with the leap days


# --- minutes_owed: "0 s owes 0; 0.001 s to 60 s owes one minute; 60.001 s owes two" ---


@pytest.mark.parametrize(
    "elapsed, minutes",
    [
        (0, 0),
        (1, 1),
        (59_999, 1),
        (60_000, 1),
        (60_001, 2),
        (119_999, 2),
        (120_000, 2),
        (120_001, 3),
        (-1, 0),
        (-60_001, 0),
    ],
)
def test_minutes_owed_boundaries(elapsed, minutes):
    assert minutes_owed(elapsed) == minutes


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=TEN_YEARS_MS))
def test_minutes_owed_is_the_smallest_whole_minute_count_covering_the_time(elapsed):
    owed = minutes_owed(elapsed)
    assert isinstance(owed, int)
    assert owed * MINUTE_MS >= elapsed
    assert (owed - 1) * MINUTE_MS < elapsed


def test_minutes_owed_is_exact_for_a_ten_year_session():
    # 10 years and 1 ms: floats would lose the last millisecond long before this.
    elapsed = TEN_YEARS_MS + 1
    owed = minutes_owed(elapsed)
    assert type(owed) is int
    assert owed == TEN_YEARS_MS // MINUTE_MS + 1


# --- credit cap: (billed + balance // rate) * 60 s ---


@pytest.mark.parametrize(
    "billed, balance, rate, cap_minutes",
    [
        (0, 0, 199, 0),
        (0, 198, 199, 0),
        (0, 199, 199, 1),
        (0, 10_000, 199, 50),  # the demo user and advisor: 10000 // 199 = 50
        (3, 10_000, 199, 53),
        (7, 1, 100, 7),
    ],
)
def test_credit_cap_ms(billed, balance, rate, cap_minutes):
    session = make_session(billed_minutes=billed, rate_per_minute=rate)
    assert credit_cap_ms(session, balance) == cap_minutes * MINUTE_MS


def test_credit_cap_is_none_for_a_free_rate():
    assert credit_cap_ms(make_session(rate_per_minute=0), 10_000) is None
    assert remaining_ms(make_session(rate_per_minute=0), 10_000, START_MS + HOUR_MS) is None


def test_free_session_elapsed_is_not_capped():
    session = make_session(rate_per_minute=0)
    assert elapsed_ms(session, 0, START_MS + 5 * HOUR_MS) == 5 * HOUR_MS


def test_credit_cap_never_counts_a_negative_balance_against_billed_minutes():
    session = make_session(billed_minutes=4, rate_per_minute=100)
    assert credit_cap_ms(session, -500) == 4 * MINUTE_MS


# --- elapsed ---


@pytest.mark.parametrize("behind_ms", [1, 3, 250])
def test_elapsed_is_zero_when_the_reader_clock_is_behind_the_writer(behind_ms):
    session = make_session()
    assert elapsed_ms(session, 10_000, START_MS - behind_ms) == 0
    assert raw_elapsed_ms(session, START_MS - behind_ms) == 0


def test_elapsed_counts_milliseconds_from_the_start():
    session = make_session()
    assert elapsed_ms(session, 10_000, START_MS) == 0
    assert elapsed_ms(session, 10_000, START_MS + 1) == 1
    assert elapsed_ms(session, 10_000, START_MS + 15_432) == 15_432


def test_elapsed_is_capped_at_the_credit_cap_while_active():
    # 1000 units at 199/min pay 5 minutes (cap 300 s); 2 minutes were already billed.
    session = make_session(billed_minutes=2, rate_per_minute=199)
    balance = 1000
    cap = (2 + 1000 // 199) * MINUTE_MS
    assert elapsed_ms(session, balance, START_MS + cap - 1) == cap - 1
    assert elapsed_ms(session, balance, START_MS + cap) == cap
    assert elapsed_ms(session, balance, START_MS + cap + 1) == cap
    assert elapsed_ms(session, balance, START_MS + cap + 5 * HOUR_MS) == cap


def test_remaining_is_cap_minus_elapsed_and_zero_past_the_cap():
    session = make_session(billed_minutes=1, rate_per_minute=100)
    balance = 250  # 1 + 2 minutes: cap 180 s
    cap = 3 * MINUTE_MS
    assert remaining_ms(session, balance, START_MS) == cap
    assert remaining_ms(session, balance, START_MS + 61_234) == cap - 61_234
    assert remaining_ms(session, balance, START_MS + cap) == 0
    assert remaining_ms(session, balance, START_MS + cap + 10_000) == 0
    # A clock behind the writer: nothing elapsed yet, the whole cap remains.
    assert remaining_ms(session, balance, START_MS - 5) == cap


@settings(max_examples=200, deadline=None)
@given(
    billed=st.integers(0, 10_000),
    balance=st.integers(0, 10**9),
    rate=st.integers(1, 10_000),
    offset=st.integers(-10_000, TEN_YEARS_MS),
)
def test_remaining_plus_elapsed_is_the_cap_while_active(billed, balance, rate, offset):
    session = make_session(billed_minutes=billed, rate_per_minute=rate)
    now = START_MS + offset
    cap = (billed + balance // rate) * MINUTE_MS
    elapsed = elapsed_ms(session, balance, now)
    remaining = remaining_ms(session, balance, now)
    assert 0 <= elapsed <= cap
    assert remaining >= 0
    assert elapsed + remaining == cap
    assert elapsed == min(max(0, offset), cap)


def test_elapsed_is_frozen_once_ended():
    ended_at = START_MS + 2 * MINUTE_MS + 345
    session = make_session(status=ENDED, ended_at_ms=ended_at, end_reason=END_BY_USER, billed_minutes=3)
    expected = 2 * MINUTE_MS + 345
    assert elapsed_ms(session, 10_000, ended_at) == expected
    assert elapsed_ms(session, 10_000, ended_at + 1) == expected
    assert elapsed_ms(session, 10_000, ended_at + 7 * HOUR_MS) == expected
    # Neither the balance nor the clock moves an ended session's elapsed time.
    assert elapsed_ms(session, 0, ended_at + 7 * HOUR_MS) == expected


def test_ended_session_is_not_capped_by_a_balance_that_later_dropped():
    # Ended inside its credits; the balance is now 0 (spent elsewhere): the record stands.
    ended_at = START_MS + 4 * MINUTE_MS
    session = make_session(status=ENDED, ended_at_ms=ended_at, end_reason=END_BY_USER, billed_minutes=4)
    assert elapsed_ms(session, 0, ended_at + HOUR_MS) == 4 * MINUTE_MS


def test_remaining_is_none_once_ended():
    session = make_session(status=ENDED, ended_at_ms=START_MS + MINUTE_MS, end_reason=END_BY_USER, billed_minutes=1)
    assert remaining_ms(session, 10_000, START_MS + MINUTE_MS) is None
    assert remaining_ms(session, 10_000, START_MS + 2 * HOUR_MS) is None


def test_ended_schema1_session_without_end_time_reports_billed_minutes():
    session = make_session(
        status=ENDED,
        ended_at_ms=None,
        end_reason=None,
        billed_minutes=7,
        timer_init=LEGACY_TIMER_START,
        schema_version=1,
    )
    for now in (START_MS, START_MS + 1, START_MS + 3 * HOUR_MS, START_MS + TEN_YEARS_MS):
        assert elapsed_ms(session, 10_000, now) == 7 * MINUTE_MS
        assert remaining_ms(session, 10_000, now) is None


def test_ten_year_session_stays_exact_integers():
    session = make_session(billed_minutes=0, rate_per_minute=1)
    balance = 10**12  # more minutes than ten years hold
    now = START_MS + TEN_YEARS_MS + 1
    elapsed = elapsed_ms(session, balance, now)
    remaining = remaining_ms(session, balance, now)
    assert type(elapsed) is int and type(remaining) is int
    assert elapsed == TEN_YEARS_MS + 1
    assert remaining == 10**12 * MINUTE_MS - (TEN_YEARS_MS + 1)
    assert minutes_owed(elapsed) == TEN_YEARS_MS // MINUTE_MS + 1


def test_ended_ten_year_session_is_exact():
    ended_at = START_MS + TEN_YEARS_MS + 999
    session = make_session(status=ENDED, ended_at_ms=ended_at, end_reason=END_BY_USER)
    value = elapsed_ms(session, 0, ended_at + HOUR_MS)
    assert type(value) is int
    assert value == TEN_YEARS_MS + 999


@pytest.mark.parametrize("minutes", [1, 2, 30, 1440])
def test_read_exactly_at_a_minute_boundary(minutes):
    session = make_session(billed_minutes=minutes, rate_per_minute=100)
    now = START_MS + minutes * MINUTE_MS
    # Exactly N minutes: N started minutes owed, not N + 1.
    assert minutes_owed(raw_elapsed_ms(session, now)) == minutes
    assert minutes_owed(raw_elapsed_ms(session, now + 1)) == minutes + 1
    # With exactly enough credit for the billed minutes, the cap is hit right now.
    assert elapsed_ms(session, 0, now) == minutes * MINUTE_MS
    assert remaining_ms(session, 0, now) == 0
    assert elapsed_ms(session, 0, now + 1) == minutes * MINUTE_MS
