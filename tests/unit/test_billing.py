"""docs/contract.md "Billing rules": ending and billing decide Charges; the tests apply them and keep the
balance themselves, the way the store's transaction would."""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain.billing import Charge, settle_billing, settle_end
from chalicelib.domain.presence import Presence
from chalicelib.domain.session import (
    ACTIVE,
    END_BY_ADVISOR,
    END_BY_USER,
    END_CREDITS_EXHAUSTED,
    ENDED,
)
from chalicelib.domain.timer import credit_cap_ms, elapsed_ms, minutes_owed
from harness.clock import HOUR_MS, MINUTE_MS, START_MS
from harness.factories import make_session

# A user this release has not recorded yet: the idle rule does not apply (tests/unit/test_idle.py).
UNSEEN = Presence(idle_ms=120_000)


def apply(charge, session, balance):
    """What the committed transaction does: the session moves, the balance pays the amount."""
    assert charge.session_id == session.session_id
    assert charge.user_id == session.user_id
    assert charge.billed_before == session.billed_minutes
    return charge.applied_to(session), balance - charge.amount


# --- settle_end ---


def test_normal_end_charges_started_minutes_not_yet_billed():
    session = make_session(billed_minutes=2, charged=2 * 199, rate_per_minute=199)
    now = START_MS + 4 * MINUTE_MS + 1  # 5 started minutes
    charge = settle_end(session, 10_000, UNSEEN, now, END_BY_USER)
    assert charge.billed_before == 2
    assert charge.billed_after == 5
    assert charge.minutes == 3
    assert charge.amount == 3 * 199
    assert charge.first_minute == 3
    assert charge.ended_at_ms == now
    assert charge.end_reason == END_BY_USER
    assert charge.charged_at_ms == now
    ended, balance = apply(charge, session, 10_000)
    assert ended.status == ENDED
    assert ended.ended_at_ms == now
    assert ended.end_reason == END_BY_USER
    assert ended.billed_minutes == 5
    assert ended.charged == 5 * 199
    assert balance == 10_000 - 3 * 199


def test_end_by_advisor_keeps_its_reason():
    session = make_session()
    charge = settle_end(session, 10_000, UNSEEN, START_MS + 30_000, END_BY_ADVISOR)
    assert charge.end_reason == END_BY_ADVISOR
    assert charge.billed_after == 1
    assert charge.amount == 199


def test_end_exactly_on_a_minute_boundary_charges_that_many_minutes():
    session = make_session(rate_per_minute=100)
    charge = settle_end(session, 10_000, UNSEEN, START_MS + 3 * MINUTE_MS, END_BY_USER)
    assert charge.billed_after == 3
    assert charge.amount == 300


def test_end_at_the_start_instant_charges_nothing():
    session = make_session()
    charge = settle_end(session, 10_000, UNSEEN, START_MS, END_BY_USER)
    assert charge.amount == 0
    assert charge.ended_at_ms == START_MS
    assert charge.end_reason == END_BY_USER


def test_end_with_a_clock_behind_the_start_never_ends_before_the_start():
    session = make_session()
    charge = settle_end(session, 10_000, UNSEEN, START_MS - 4, END_BY_USER)
    assert charge.amount == 0
    assert charge.ended_at_ms >= session.started_at_ms
    ended, _ = apply(charge, session, 10_000)
    assert elapsed_ms(ended, 10_000, START_MS + HOUR_MS) == 0


def test_end_after_the_cap_ends_at_the_paid_minutes_as_credits_exhausted():
    # billed 1, balance 250 at 100/min: 2 more minutes paid, cap at 3 minutes.
    session = make_session(billed_minutes=1, charged=100, rate_per_minute=100)
    balance = 250
    charge = settle_end(session, balance, UNSEEN, START_MS + 10 * MINUTE_MS, END_BY_USER)
    assert charge.end_reason == END_CREDITS_EXHAUSTED
    assert charge.ended_at_ms == START_MS + 3 * MINUTE_MS
    assert charge.billed_after == 3
    assert charge.amount == 200
    assert charge.amount <= balance
    ended, balance = apply(charge, session, balance)
    assert balance == 50
    assert ended.status == ENDED
    assert ended.charged == 300


def test_end_one_ms_after_the_cap_is_exhaustion_and_exactly_at_the_cap_is_not():
    session = make_session(rate_per_minute=100)
    balance = 300  # cap: 3 minutes
    at_cap = settle_end(session, balance, UNSEEN, START_MS + 3 * MINUTE_MS, END_BY_USER)
    assert at_cap.end_reason == END_BY_USER
    assert at_cap.ended_at_ms == START_MS + 3 * MINUTE_MS
    assert at_cap.amount == 300
    past = settle_end(session, balance, UNSEEN, START_MS + 3 * MINUTE_MS + 1, END_BY_USER)
    assert past.end_reason == END_CREDITS_EXHAUSTED
    assert past.ended_at_ms == START_MS + 3 * MINUTE_MS
    assert past.amount == 300


def test_end_with_no_credit_at_all_ends_at_the_start_and_charges_nothing():
    session = make_session(rate_per_minute=100)
    charge = settle_end(session, 0, UNSEEN, START_MS + 30_000, END_BY_USER)
    assert charge.end_reason == END_CREDITS_EXHAUSTED
    assert charge.ended_at_ms == START_MS
    assert charge.amount == 0


def test_end_of_a_legacy_session_billed_ahead_charges_nothing_more():
    # The previous release billed 5 minutes up front; the session ends after 2.
    session = make_session(billed_minutes=5, charged=500, rate_per_minute=100)
    charge = settle_end(session, 1_000, UNSEEN, START_MS + 2 * MINUTE_MS, END_BY_USER)
    assert charge.amount == 0
    assert charge.billed_after == 5
    assert charge.ended_at_ms == START_MS + 2 * MINUTE_MS


# --- settle_billing ---


def test_billing_returns_none_when_nothing_new_is_owed():
    session = make_session(billed_minutes=2)
    assert settle_billing(session, 10_000, UNSEEN, START_MS + 2 * MINUTE_MS) is None
    assert settle_billing(session, None, UNSEEN, START_MS + 2 * MINUTE_MS) is None
    assert settle_billing(session, 10_000, UNSEEN, START_MS + 90_000) is None


def test_billing_returns_none_before_anything_elapsed():
    session = make_session()
    assert settle_billing(session, None, UNSEEN, START_MS) is None
    assert settle_billing(session, None, UNSEEN, START_MS - 10) is None
    assert settle_billing(session, 10_000, UNSEEN, START_MS) is None


def test_billing_charges_the_new_started_minutes():
    session = make_session(billed_minutes=2, charged=398)
    now = START_MS + 2 * MINUTE_MS + 1
    charge = settle_billing(session, 10_000, UNSEEN, now)
    assert charge is not None
    assert (charge.billed_before, charge.billed_after) == (2, 3)
    assert charge.amount == 199
    assert charge.first_minute == 3
    assert charge.ends_session is False
    assert charge.ended_at_ms is None and charge.end_reason is None
    assert charge.charged_at_ms == now
    billed, _ = apply(charge, session, 10_000)
    assert billed.status == ACTIVE
    assert billed.ended_at_ms is None


def test_billing_without_a_balance_skips_the_exhaustion_check():
    session = make_session(rate_per_minute=100)
    now = START_MS + 10 * MINUTE_MS  # far past what 250 units would pay
    charge = settle_billing(session, None, UNSEEN, now)
    assert charge is not None
    assert charge.billed_after == 10
    assert charge.amount == 1000
    assert charge.ends_session is False


def test_billing_with_the_real_balance_ends_the_session_at_exhaustion():
    session = make_session(billed_minutes=1, charged=100, rate_per_minute=100)
    balance = 250
    charge = settle_billing(session, balance, UNSEEN, START_MS + 10 * MINUTE_MS)
    assert charge is not None
    assert charge.end_reason == END_CREDITS_EXHAUSTED
    assert charge.ended_at_ms == START_MS + 3 * MINUTE_MS
    assert charge.billed_after == 3
    assert charge.amount == 200
    assert charge.ends_session is True


def test_billing_at_exhaustion_with_nothing_more_to_charge_still_ends():
    # Everything the balance pays is billed already; the clock is past it.
    session = make_session(billed_minutes=3, charged=300, rate_per_minute=100)
    charge = settle_billing(session, 50, UNSEEN, START_MS + 3 * MINUTE_MS + 1)
    assert charge is not None
    assert charge.amount == 0
    assert charge.end_reason == END_CREDITS_EXHAUSTED
    assert charge.ended_at_ms == START_MS + 3 * MINUTE_MS


# --- Charge ---


def test_charge_properties():
    charge = Charge(
        session_id="sess_0001",
        user_id="user-1",
        billed_before=4,
        billed_after=7,
        rate_per_minute=150,
        charged_at_ms=START_MS,
    )
    assert charge.minutes == 3
    assert charge.amount == 450
    assert charge.first_minute == 5
    assert charge.ends_session is False


def test_charge_applied_to_an_active_session():
    session = make_session(billed_minutes=4, charged=600, rate_per_minute=150)
    charge = Charge("sess_0001", "user-1", 4, 7, 150, START_MS + 7 * MINUTE_MS)
    after = charge.applied_to(session)
    assert after.billed_minutes == 7
    assert after.charged == 600 + 450
    assert after.status == ACTIVE
    assert after.ended_at_ms is None and after.end_reason is None
    # Everything else is untouched, and the original is not mutated.
    assert after.started_at_ms == session.started_at_ms
    assert after.rate_per_minute == 150
    assert session.billed_minutes == 4 and session.charged == 600


def test_charge_applied_with_an_end():
    session = make_session(billed_minutes=0, rate_per_minute=150)
    end = START_MS + 90_000
    charge = Charge("sess_0001", "user-1", 0, 2, 150, end, ended_at_ms=end, end_reason=END_BY_USER)
    after = charge.applied_to(session)
    assert charge.ends_session is True
    assert after.status == ENDED
    assert after.ended_at_ms == end
    assert after.end_reason == END_BY_USER
    assert after.charged == 300


def test_charge_keeps_the_session_rate_not_a_later_one():
    session = make_session(rate_per_minute=120)
    charge = settle_end(session, 10_000, UNSEEN, START_MS + MINUTE_MS, END_BY_USER)
    assert charge.rate_per_minute == 120
    assert charge.amount == 120


# --- properties ---


def _billing_plan(max_life_ms):
    """A session life T and increasing billing-run instants within it."""
    return st.integers(0, max_life_ms).flatmap(
        lambda life: st.tuples(
            st.just(life),
            st.lists(st.integers(0, life), max_size=25, unique=True).map(sorted),
            st.lists(st.booleans(), min_size=25, max_size=25),
        )
    )


@settings(max_examples=150, deadline=None)
@given(plan=_billing_plan(6 * HOUR_MS), rate=st.integers(1, 1_000), extra=st.integers(0, 10_000))
def test_billing_runs_then_end_charge_exactly_the_started_minutes(plan, rate, extra):
    life, runs, knows_balance = plan
    expected_minutes = -(-life // MINUTE_MS)
    balance = (expected_minutes + 1) * rate + extra  # large enough
    start_balance = balance
    session = make_session(rate_per_minute=rate)
    charges = []
    for t, known in zip(runs, knows_balance, strict=False):  # 25 flags, up to 25 runs
        charge = settle_billing(session, balance if known else None, UNSEEN, START_MS + t)
        if charge is None:
            assert minutes_owed(t) <= session.billed_minutes
            continue
        assert charge.minutes >= 1
        assert not charge.ends_session
        charges.append(charge)
        session, balance = apply(charge, session, balance)
        assert session.billed_minutes == minutes_owed(t)
    end = settle_end(session, balance, UNSEEN, START_MS + life, END_BY_USER)
    charges.append(end)
    session, balance = apply(end, session, balance)

    total = sum(c.amount for c in charges)
    assert total == expected_minutes * rate
    assert start_balance - balance == total
    assert session.charged == total
    assert session.billed_minutes == expected_minutes
    assert session.status == ENDED
    assert session.end_reason == END_BY_USER
    assert session.ended_at_ms == START_MS + life
    # Ledger keys: each charge starts where the previous one stopped, no gap, no overlap.
    next_minute = 1
    for charge in charges:
        assert charge.first_minute == next_minute
        next_minute += charge.minutes
    assert next_minute == expected_minutes + 1
    paying = [c.first_minute for c in charges if c.minutes > 0]
    assert len(paying) == len(set(paying))


@settings(max_examples=200, deadline=None)
@given(
    plan=_billing_plan(3 * HOUR_MS),
    rate=st.integers(1, 500),
    start_balance=st.integers(0, 50_000),
    billed_before=st.integers(0, 5),
)
def test_any_balance_is_never_overdrawn_and_exhaustion_ends_at_the_paid_minutes(
    plan, rate, start_balance, billed_before
):
    life, runs, _ = plan
    # billed_before > 0: a legacy session the previous release had already billed.
    session = make_session(rate_per_minute=rate, billed_minutes=billed_before, charged=billed_before * rate)
    balance = start_balance
    paid_minutes = billed_before + start_balance // rate
    total = 0
    for t in runs:
        # A run assumes the balance pays; the transaction's guard refuses an overdraft and
        # the run decides again with the balance it then reads.
        charge = settle_billing(session, None, UNSEEN, START_MS + t)
        if charge is not None and charge.amount > balance:
            charge = settle_billing(session, balance, UNSEEN, START_MS + t)
        if charge is None:
            continue
        assert 0 <= charge.amount <= balance
        total += charge.amount
        session, balance = apply(charge, session, balance)
        assert balance >= 0
        if session.status == ENDED:
            break
    if session.status == ACTIVE:
        end = settle_end(session, balance, UNSEEN, START_MS + life, END_BY_USER)
        assert 0 <= end.amount <= balance
        total += end.amount
        session, balance = apply(end, session, balance)

    assert balance >= 0
    assert total <= start_balance
    assert start_balance - balance == total
    assert session.status == ENDED
    if life > paid_minutes * MINUTE_MS:
        assert session.end_reason == END_CREDITS_EXHAUSTED
        assert session.ended_at_ms == START_MS + paid_minutes * MINUTE_MS
        assert session.billed_minutes == paid_minutes
        assert total == (paid_minutes - billed_before) * rate
    else:
        assert session.end_reason == END_BY_USER
        assert session.ended_at_ms == START_MS + life
        assert session.billed_minutes == max(billed_before, minutes_owed(life))
        assert total == (session.billed_minutes - billed_before) * rate


@settings(max_examples=200, deadline=None)
@given(
    billed=st.integers(0, 10_000),
    balance=st.integers(0, 10**7),
    rate=st.integers(1, 5_000),
    data=st.data(),
)
def test_a_billing_charge_does_not_move_the_credit_cap(billed, balance, rate, data):
    assume(balance >= rate)
    k = data.draw(st.integers(1, balance // rate), label="minutes charged")
    session = make_session(billed_minutes=billed, charged=billed * rate, rate_per_minute=rate)
    charge = Charge(session.session_id, session.user_id, billed, billed + k, rate, START_MS)
    after, new_balance = apply(charge, session, balance)
    assert new_balance == balance - k * rate
    assert credit_cap_ms(after, new_balance) == credit_cap_ms(session, balance)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(1, 1_000),
    balance=st.integers(0, 100_000),
    now=st.integers(0, 4 * HOUR_MS),
)
def test_a_decided_billing_charge_keeps_the_cap_and_the_display(rate, balance, now):
    session = make_session(rate_per_minute=rate)
    charge = settle_billing(session, balance, UNSEEN, START_MS + now)
    assume(charge is not None and not charge.ends_session)
    after, new_balance = apply(charge, session, balance)
    assert credit_cap_ms(after, new_balance) == credit_cap_ms(session, balance)
    # A poll right before and right after the run shows the same elapsed time.
    assert elapsed_ms(after, new_balance, START_MS + now) == elapsed_ms(session, balance, START_MS + now)


def test_two_runs_reading_the_same_billed_minutes_decide_the_same_ledger_key():
    # Overlapping runs: both read billed_minutes=2; their charges collide on first_minute.
    session = make_session(billed_minutes=2, charged=398)
    one = settle_billing(session, None, UNSEEN, START_MS + 2 * MINUTE_MS + 5)
    two = settle_billing(session, None, UNSEEN, START_MS + 3 * MINUTE_MS + 5)
    assert one.first_minute == two.first_minute == 3
    assert one.billed_before == two.billed_before == 2
