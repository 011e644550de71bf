"""The idle rule as plain functions (docs/contract.md, "Idle sessions"): presence, the idle end
against the credit end and an end request, to the millisecond; and its setting."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.billing import forced_end, settle_billing, settle_end
from chalicelib.domain.presence import Presence
from chalicelib.domain.session import END_BY_USER, END_CREDITS_EXHAUSTED, END_IDLE
from chalicelib.domain.timer import MS_PER_MINUTE
from chalicelib.domain.view import session_view
from chalicelib.settings import ConfigurationError, idle_seconds
from harness.clock import START_MS
from harness.factories import make_session

IDLE_MS = 120_000
PROJECT = Path(__file__).resolve().parents[2]
RICH = 1_000_000


def seen_at(offset_ms):
    return Presence(IDLE_MS, START_MS + offset_ms)


# ---- presence -----------------------------------------------------------------------------


def test_idle_from_the_millisecond_the_limit_is_reached():
    presence = seen_at(45_000)
    assert presence.idle_at_ms == START_MS + 165_000
    assert not presence.is_idle(START_MS + 164_999)
    assert presence.is_idle(START_MS + 165_000)


def test_a_user_never_recorded_is_never_idle_and_always_due():
    unseen = Presence(IDLE_MS)
    assert unseen.idle_at_ms is None
    assert not unseen.is_idle(START_MS + 10**9)
    assert unseen.heartbeat_due(START_MS)


def test_a_heartbeat_is_due_once_per_quarter_of_the_limit():
    presence = seen_at(0)
    assert not presence.heartbeat_due(START_MS + 29_999)
    assert presence.heartbeat_due(START_MS + 30_000)


def test_a_charge_needs_the_user_seen_no_earlier_than_its_instant_minus_the_limit():
    assert seen_at(0).seen_since_ms(START_MS + 500_000) == START_MS + 380_000


# ---- the idle end -------------------------------------------------------------------------


def test_the_idle_end_is_at_last_seen_plus_the_limit_charged_to_there():
    session = make_session(billed_minutes=1, charged=199)
    charge = forced_end(session, RICH, seen_at(45_000), START_MS + 900_000)
    assert charge is not None
    assert (charge.end_reason, charge.ended_at_ms) == (END_IDLE, START_MS + 165_000)
    assert (charge.billed_before, charge.billed_after, charge.amount) == (1, 3, 2 * 199)
    # Conditioned on the very last-seen it was decided from, nothing else.
    assert (charge.last_seen_ms, charge.seen_since_ms) == (START_MS + 45_000, None)


@pytest.mark.parametrize("idle_at_minutes_ms, owed", [(0, 2), (1, 3)])
def test_the_idle_charge_counts_started_minutes_to_the_millisecond(idle_at_minutes_ms, owed):
    presence = seen_at(2 * MS_PER_MINUTE - IDLE_MS + idle_at_minutes_ms)
    charge = forced_end(make_session(), RICH, presence, START_MS + 10 * MS_PER_MINUTE)
    assert charge is not None and charge.billed_after == owed


def test_nothing_is_forced_before_the_idle_instant():
    assert forced_end(make_session(), RICH, seen_at(0), START_MS + IDLE_MS - 1) is None


def test_the_idle_end_never_charges_beyond_what_was_billed_already_nor_refunds():
    # A session billed to minute 3 by a previous build before it was ever seen: the charge
    # adds nothing, the end is still at the idle instant.
    session = make_session(billed_minutes=3, charged=3 * 199)
    charge = forced_end(session, RICH, seen_at(0), START_MS + 10 * MS_PER_MINUTE)
    assert charge is not None and (charge.minutes, charge.ended_at_ms) == (0, START_MS + IDLE_MS)


def test_the_credit_end_wins_when_it_came_first():
    session = make_session(rate_per_minute=199)
    charge = forced_end(session, 199, seen_at(0), START_MS + 10 * MS_PER_MINUTE)  # credits end at 60 s
    assert charge is not None
    assert (charge.end_reason, charge.ended_at_ms, charge.billed_after) == (END_CREDITS_EXHAUSTED, START_MS + 60_000, 1)
    # Not idle before its own instant: that is what its condition asks of the last-seen.
    assert charge.seen_since_ms == START_MS + 60_000 - IDLE_MS


def test_the_credit_end_wins_a_tie():
    session = make_session(rate_per_minute=199)
    charge = forced_end(session, 2 * 199, seen_at(0), START_MS + 10 * MS_PER_MINUTE)  # both at 120 s
    assert charge is not None
    assert (charge.end_reason, charge.ended_at_ms) == (END_CREDITS_EXHAUSTED, START_MS + IDLE_MS)


def test_idle_wins_when_the_credits_would_have_run_out_later():
    session = make_session(rate_per_minute=199)
    charge = forced_end(session, 3 * 199, seen_at(0), START_MS + 10 * MS_PER_MINUTE)  # credits: 180 s
    assert charge is not None
    assert (charge.end_reason, charge.ended_at_ms, charge.amount) == (END_IDLE, START_MS + IDLE_MS, 2 * 199)


def test_an_end_request_after_the_idle_instant_ends_it_as_idle():
    charge = settle_end(make_session(), RICH, seen_at(0), START_MS + 500_000, END_BY_USER)
    assert (charge.end_reason, charge.ended_at_ms) == (END_IDLE, START_MS + IDLE_MS)


def test_an_end_request_before_the_idle_instant_is_the_callers_and_needs_the_user_still_there():
    now = START_MS + IDLE_MS - 1
    charge = settle_end(make_session(), RICH, seen_at(0), now, END_BY_USER)
    assert (charge.end_reason, charge.ended_at_ms) == (END_BY_USER, now)
    assert charge.seen_since_ms == now - IDLE_MS


def test_billing_that_has_not_read_the_account_assumes_the_user_is_there():
    charge = settle_billing(make_session(), None, Presence(IDLE_MS), START_MS + 500_000)
    assert charge is not None and not charge.ends_session and charge.billed_after == 9
    assert charge.seen_since_ms == START_MS + 500_000 - IDLE_MS  # the condition that catches it


def test_billing_that_learnt_the_last_seen_ends_the_session_as_idle_even_with_nothing_owed():
    session = make_session(billed_minutes=2, charged=2 * 199)
    charge = settle_billing(session, RICH, seen_at(0), START_MS + 150_000)
    assert charge is not None and charge.ends_idle and charge.minutes == 0


@given(
    seen=st.integers(0, 30 * MS_PER_MINUTE),
    idle_s=st.integers(5, 3600),
    after=st.integers(0, 60 * MS_PER_MINUTE),
    balance=st.integers(0, 100 * 199),
    billed=st.integers(0, 3),
)
def test_an_end_forced_by_idle_or_credits_is_at_the_earlier_instant_and_never_charges_past_it(
    seen, idle_s, after, balance, billed
):
    session = make_session(rate_per_minute=199, billed_minutes=billed, charged=billed * 199)
    presence = Presence(idle_s * 1000, START_MS + seen)
    now = START_MS + seen + idle_s * 1000 + after  # always past the idle instant
    charge = forced_end(session, balance, presence, now)
    assert charge is not None
    credits_end = START_MS + (billed + balance // 199) * MS_PER_MINUTE
    assert charge.ended_at_ms == min(credits_end, START_MS + seen + idle_s * 1000)
    owed = -(-(charge.ended_at_ms - START_MS) // MS_PER_MINUTE)
    assert charge.billed_after == max(billed, owed)
    assert charge.amount <= balance


def test_the_view_of_an_idle_end_is_frozen_at_its_instant():
    ended = make_session(status="ended", ended_at_ms=START_MS + 165_000, end_reason=END_IDLE, billed_minutes=3)
    view = session_view(ended, 1_000, ended.user_id, START_MS + 10**7, idle_seconds=120)
    assert (view["status"], view["end_reason"], view["elapsed_seconds"]) == ("ended", "idle", 165.0)
    assert view["idle_timeout_seconds"] == 120


# ---- the setting --------------------------------------------------------------------------


@pytest.mark.parametrize("value, seconds", [(None, 120), ("", 120), (" ", 120), ("5", 5), (" 600 ", 600)])
def test_the_setting_defaults_to_two_minutes_and_takes_whole_seconds(value, seconds):
    assert idle_seconds(value) == seconds


@pytest.mark.parametrize("value", ["4", "0", "-120", "1.5", "2m", "abc"])
def test_the_setting_refuses_less_than_five_seconds_or_anything_not_whole_seconds(value):
    with pytest.raises(ConfigurationError, match="SESSION_IDLE_SECONDS"):
        idle_seconds(value)


def _run_with_idle(value, *args):
    env = {**os.environ, "SESSION_IDLE_SECONDS": value}
    return subprocess.run([sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)


def test_the_functions_refuse_to_start_with_a_bad_setting():
    # Lambda imports app.py at a cold start: the init fails, before any request is served.
    refused = _run_with_idle("4", "-c", "import app")
    assert refused.returncode != 0 and "SESSION_IDLE_SECONDS must be" in refused.stderr
    assert _run_with_idle("5", "-c", "import app").returncode == 0


def test_make_run_refuses_to_start_with_a_bad_setting():
    refused = _run_with_idle("abc", "-m", "chalicelib.local")
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("make run: SESSION_IDLE_SECONDS must be")
    assert "Traceback" not in refused.stderr and "local stage is up" not in refused.stdout
