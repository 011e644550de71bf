"""The billing run's orchestration with a fake store (harness/fake_store.py, no AWS): how it reacts to each answer a
charge can get, how it spreads shards over its bounded pool, and where its budget comes from."""

import threading
from types import SimpleNamespace

from chalicelib.domain.errors import ChargeConflict, ServiceUnavailable
from chalicelib.domain.session import ENDED, Account
from chalicelib.services import schedule
from chalicelib.services.billing import RunReport, bill_session, run_billing
from harness.clock import MINUTE_MS, START_MS, FakeClock
from harness.factories import make_session
from harness.fake_store import FakeStore


def _clock(minutes_after_start, ms=0):
    return FakeClock(START_MS + minutes_after_start * MINUTE_MS + ms)


def test_a_refused_balance_is_decided_again_with_the_balance_dynamodb_returned():
    store = FakeStore(answers=[ChargeConflict("balance", account=Account("user-1", 250, single_marker="sess_0001"))])
    report = RunReport()
    bill_session(store, _clock(9, 1), make_session(rate_per_minute=100), report)

    (_, optimistic, _), (_, final, clear) = store.commits
    assert (optimistic.billed_after, optimistic.ends_session) == (10, False)
    assert (final.billed_after, final.amount, final.ended_at_ms, final.end_reason) == (
        2,
        200,
        START_MS + 2 * MINUTE_MS,
        "credits_exhausted",
    )
    assert clear is True  # the single marker of earlier builds names this session: the end drops it
    assert (report.ended_exhausted, report.sessions_charged, report.units_charged) == (1, 0, 200)


def test_the_marker_of_another_session_is_left_alone():
    store = FakeStore(answers=[ChargeConflict("balance", account=Account("user-1", 0, single_marker="someone-else"))])
    bill_session(store, _clock(3), make_session(rate_per_minute=100), RunReport())
    assert store.commits[-1][2] is False


def test_a_session_ended_by_someone_else_is_skipped_after_one_read():
    ended = make_session(status=ENDED, ended_at_ms=START_MS + MINUTE_MS, billed_minutes=2)
    store = FakeStore(answers=[ChargeConflict("session")], fresh=ended)
    report = RunReport()
    bill_session(store, _clock(5), make_session(), report)
    assert len(store.commits) == 1 and report.skipped_raced == 1


def test_a_session_billed_by_someone_else_is_charged_only_what_is_left():
    fresher = make_session(billed_minutes=5, charged=5 * 199)
    store = FakeStore(answers=[ChargeConflict("session")], fresh=fresher)
    report = RunReport()
    bill_session(store, _clock(5, 1), make_session(), report)
    billed_before, charge, _ = store.commits[-1]
    assert (billed_before, charge.billed_before, charge.billed_after) == (5, 5, 6)
    assert report.sessions_charged == 1 and report.minutes_charged == 1


def test_losing_every_attempt_leaves_the_session_for_the_next_run():
    store = FakeStore(answers=[ChargeConflict("session")] * 3, fresh=make_session())
    report = RunReport()
    bill_session(store, _clock(2, 1), make_session(), report)
    assert len(store.commits) == 3
    assert report.left_over == 1 and report.sessions_charged == 0


def test_a_failing_shard_query_keeps_what_it_read_and_spares_the_other_shards():
    failures = []
    first = make_session(session_id="s-1", started_at_ms=START_MS)
    store = FakeStore(shards=[[first, ServiceUnavailable()], [make_session(session_id="s-2")]])

    report = run_billing(
        store,
        _clock(1, 1),
        lambda: 60_000,
        0,
        workers=2,
        on_failure=lambda session, error: failures.append((session, type(error))),
    )

    assert sorted(charge.session_id for _, charge, _ in store.commits) == ["s-1", "s-2"]
    assert (report.failed, report.shards_incomplete, report.sessions_charged) == (1, 1, 2)
    assert failures == [(None, ServiceUnavailable)]


class _Gauge:
    """How many shards are being read at once."""

    def __init__(self):
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


class _BusyShards(FakeStore):
    """Empty shards whose queries each wait until `workers` queries are in flight together:
    a run only completes cleanly if its pool really holds that many at once."""

    def __init__(self, shards: int, workers: int):
        super().__init__(shards=[[] for _ in range(shards)])
        self.gauge = _Gauge()
        self.together = threading.Barrier(workers, timeout=5)

    def active_sessions(self, shard, forward=True):
        with self.gauge:
            self.together.wait()
        yield from ()


def test_shards_run_in_parallel_but_never_more_than_the_workers():
    for workers in (1, 3):
        store = _BusyShards(shards=12, workers=workers)
        report = run_billing(store, _clock(0), lambda: 60_000, 0, workers=workers)
        assert report.failed == 0
        assert store.gauge.peak == workers


def test_the_budget_is_the_lambda_countdown_when_there_is_one():
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 1_234)
    assert schedule.remaining_time_of(context)() == 1_234


def test_without_a_context_the_budget_is_a_real_countdown_not_the_billing_clock():
    remaining = schedule.remaining_time_of(None)
    assert schedule.DEFAULT_BUDGET_MS - 1_000 < remaining() <= schedule.DEFAULT_BUDGET_MS
