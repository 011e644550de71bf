"""Exactly once under what EventBridge and users really do, on moto's HTTP server (serialised,
as in the local stage) with real threads: overlapping runs, concurrent and repeated ends, and
one event delivered twice, each compared with a serial history on a copy of the same data."""

from concurrent.futures import ThreadPoolExecutor

import pytest

import app as app_module
from chalicelib.api import dependencies
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.local.driver import DriverContext, scheduled_event
from chalicelib.services.billing import run_billing
from chalicelib.services.end import end_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.billing import billing_state, books_problems, copy_tables, restore_tables, seed_sessions
from harness.clock import FakeClock
from harness.dynamo import fresh_tables

SESSIONS = 50
OVERLAPPING_RUNS = 8
# Two instants after seeding: in each, the runs and the ends happen with the clock standing
# still, so every order of them has one right answer.
PHASES_MS = (0, 95_000)


def _end(store, clock, user, session_id):
    for _ in range(10):
        try:
            return end_session(store, clock, user, session_id)
        except ServiceUnavailable:  # lost three races in a row: the client retries on 503
            continue
    raise AssertionError(f"{session_id} could not be ended")


def _enders(phase: int):
    """Every fifth session ends in the first phase, a different fifth in the second."""
    return [(f"conc-u{i:03d}", f"conc-s{i:03d}") for i in range(phase, SESSIONS, 5)]


def _run(store, clock, workers):
    return run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=10_000, workers=workers)


def _serial_history(store, clock, start_ms):
    for phase, at in enumerate(PHASES_MS):
        clock.now_ms = start_ms + at
        _run(store, clock, workers=1)
        for user, sid in _enders(phase):
            _end(store, clock, user, sid)


def _concurrent_history(store, clock, start_ms):
    reports = []
    with ThreadPoolExecutor(OVERLAPPING_RUNS + 2 * SESSIONS // 5) as pool:
        for phase, at in enumerate(PHASES_MS):
            clock.now_ms = start_ms + at
            runs = [pool.submit(_run, store, clock, 4) for _ in range(OVERLAPPING_RUNS)]
            # Each end is sent twice at once, as a client retrying a slow request would.
            ends = [pool.submit(_end, store, clock, user, sid) for user, sid in _enders(phase) for _ in range(2)]
            reports += [run.result() for run in runs]
            for end in ends:
                end.result()
    return reports


def _replay(server, copy):
    server.reset()
    fresh_tables(server.endpoint)
    restore_tables(copy)


@pytest.fixture
def seeded(moto_server):
    def seed(count):
        store, clock = DynamoStore(current()), FakeClock()
        balances = seed_sessions(store, clock, count, prefix="conc")
        return store, clock, balances, copy_tables()

    return seed


def test_overlapping_runs_and_concurrent_ends_end_in_the_serial_result(moto_server, seeded):
    store, clock, balances, copy = seeded(SESSIONS)
    start = clock()

    reports = _concurrent_history(store, clock, start)
    concurrent = billing_state()
    assert books_problems(balances, clock()) == []

    _replay(moto_server, copy)
    _serial_history(store, clock, start)
    serial = billing_state()

    assert concurrent == serial
    reasons = [s[4] for s in serial["sessions"].values()]
    assert reasons.count("credits_exhausted") >= 5 and reasons.count("user") >= 10 and reasons.count(None) >= 10
    assert sum(len(ranges) for _, ranges in serial["ledger"].values()) >= SESSIONS - 5
    # Every run read every session; together they charged each owed minute once.
    assert all(r.failed == 0 for r in reports)


def test_the_same_event_delivered_twice_changes_nothing_the_second_time(moto_server, seeded, monkeypatch):
    store, clock, balances, copy = seeded(20)
    monkeypatch.setattr(dependencies, "clock", clock)
    event = scheduled_event()

    first = app_module.bill_active_sessions(event, DriverContext(55_000))
    once = billing_state()
    again = app_module.bill_active_sessions(event, DriverContext(55_000))

    assert billing_state() == once
    assert first["minutes_charged"] > 0
    assert again["minutes_charged"] == again["units_charged"] == again["ended_exhausted"] == 0
    assert again["sessions_charged"] == 0

    # Delivered twice at the same moment: the same state as one delivery.
    _replay(moto_server, copy)
    with ThreadPoolExecutor(2) as pool:
        both = [pool.submit(app_module.bill_active_sessions, event, DriverContext(55_000)) for _ in range(2)]
        reports = [b.result() for b in both]
    assert billing_state() == once
    assert sum(r["minutes_charged"] for r in reports) == first["minutes_charged"]
    assert books_problems(balances, clock()) == []
