"""Throttling, service errors and timeouts on any call of a run: nothing lost, nothing charged
twice, and the next run catches up to exactly what the contract says is owed."""

import pytest

from chalicelib.domain.validation import StartRequest
from chalicelib.services.billing import run_billing
from chalicelib.services.start import start_session
from harness.billing import books_problems
from harness.clock import MINUTE_MS
from harness.dynamo import active_sessions_of, add_advisor, add_user, session_item
from harness.faults import INTERNAL, THROTTLED, TIMEOUT, failing_call

START_BALANCES = {"flt-ua": 10_000, "flt-ub": 250, "flt-uc": 10_000}

# (status, billed_minutes, charged, ended after start ms, end_reason) once billing caught up,
# by the contract's arithmetic at 100 a minute: a owes 3 started minutes; b's 250 pay 2 of the 7 it
# ran, so it ends at minute 2; c has just started and owes nothing.
CAUGHT_UP = {
    "flt-a": ("active", 3, 300, None, None),
    "flt-b": ("ended", 2, 200, 2 * MINUTE_MS, "credits_exhausted"),
    "flt-c": ("active", 0, 0, None, None),
}
# A clean run makes these calls (workers=1, so always in this order per shard): one query per
# shard, one transaction for a, a refused one and the exhaustion for b, none for c.
CALLS_PER_RUN = 5


@pytest.fixture
def two_shards(monkeypatch):
    monkeypatch.setenv("ACTIVE_SHARDS", "2")


@pytest.fixture
def owing(two_shards, dynamo, store, clock):
    add_advisor("flt-adv", 100)
    for user, balance in START_BALANCES.items():
        add_user(user, balance)
    for session, age_s in (("flt-a", 150), ("flt-b", 400), ("flt-c", 0)):
        clock.now_ms = clock() - age_s * 1000
        start_session(store, clock, f"flt-u{session[-1]}", StartRequest(advisor_id="flt-adv", session_id=session))
        clock.now_ms = clock() + age_s * 1000
    return store


def _run(store, clock):
    return run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=10_000, workers=1)


def _state(session_id):
    item = session_item(session_id)
    ended_after = None if item.ended_at_ms is None else int(item.ended_at_ms - item.started_at_ms)
    return item.status, int(item.billed_minutes), int(item.charged), ended_after, item.end_reason


def test_a_clean_run_makes_the_calls_the_fault_cases_cover(owing, clock, monkeypatch):
    with failing_call(monkeypatch, nth=-1) as calls:
        report = _run(owing, clock)
    assert sorted(calls) == ["Query", "Query"] + ["TransactWriteItems"] * 3
    assert len(calls) == CALLS_PER_RUN
    assert {sid: _state(sid) for sid in CAUGHT_UP} == CAUGHT_UP
    assert (report.sessions_charged, report.ended_exhausted, report.skipped_nothing_owed) == (1, 1, 1)


@pytest.mark.parametrize("nth", range(CALLS_PER_RUN))
@pytest.mark.parametrize(
    "code, after",
    [(THROTTLED, False), (INTERNAL, False), (TIMEOUT, False), (TIMEOUT, True)],
    ids=["throttled", "service-error", "timeout", "timeout-after-commit"],
)
def test_a_fault_on_any_call_loses_nothing_and_the_next_run_catches_up(owing, clock, monkeypatch, nth, code, after):
    with failing_call(monkeypatch, nth, code, after=after) as calls:
        faulty = _run(owing, clock)

    assert len(calls) > nth, "the fault was injected"
    assert faulty.failed == 1
    assert books_problems(START_BALANCES, clock()) == []
    for sid, (_, billed, charged, _, _) in CAUGHT_UP.items():
        state = _state(sid)
        assert state[1] <= billed and state[2] <= charged, f"{sid} charged beyond what it owes: {state}"

    _run(owing, clock)

    assert {sid: _state(sid) for sid in CAUGHT_UP} == CAUGHT_UP
    assert active_sessions_of("flt-ub") == set()
    assert books_problems(START_BALANCES, clock()) == []
    assert _run(owing, clock).units_charged == 0
