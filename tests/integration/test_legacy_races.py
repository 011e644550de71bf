"""Schema-1 records under concurrency: real threads against moto's HTTP server, serialised
as in the local stage (unserialised moto is not atomic: see the project notes)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.domain.instants import iso_ms
from chalicelib.legacy import upgrade as legacy
from chalicelib.services.billing import RunReport, bill_session, run_billing
from chalicelib.services.poll import poll_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.clock import FakeClock
from harness.dynamo import account_item, active_sessions_of, add_user, balance_of, ledger_of, session_item
from harness.legacy import (
    RATE,
    BackfillRun,
    captured_log,
    legacy_records,
    put_legacy,
    raw_items,
    schema1_item,
    seconds,
)

THREADS = 8


def together(*calls):
    """Run the calls on their own threads, released at once; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def world(moto_server):
    clock = FakeClock()
    return DynamoStore(current()), clock, legacy_records(clock())


@pytest.mark.parametrize("kind", ["timer_start", "created_at_only"])
def test_racing_first_polls_agree_on_one_start(world, kind):
    store, clock, records = world
    record = records[kind]
    add_user(record.user_id, 10_000)
    put_legacy([record])
    callers = [record.user_id, record.advisor_id] * (THREADS // 2)

    with captured_log() as log:
        views = together(*[lambda c=c: poll_session(store, clock, c, record.session_id) for c in callers])

    assert {view["started_at"] for view in views} == {iso_ms(record.start_ms)}
    assert {view["elapsed_seconds"] for view in views} == {(clock() - record.start_ms) / 1000}
    assert len(log.timer_lines(record.session_id)) == 1  # one upgrade landed, the rest read it
    assert session_item(record.session_id).started_at_ms == record.start_ms
    assert active_sessions_of(record.user_id) == {record.session_id}


@pytest.mark.parametrize("round_", range(2))
def test_a_poll_and_billing_runs_racing_on_a_schema1_record_charge_once(world, round_):
    store, clock, records = world
    record = records["partly_billed"]  # 185.5 s: owes minutes 3 and 4; 2 billed by the old release
    add_user(record.user_id, 10_000)
    put_legacy([record])
    as_read = store.read(session_id=record.session_id).session  # still schema 1
    assert as_read.is_legacy_unupgraded

    def bill():
        return run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=0, workers=2)

    calls = [lambda: poll_session(store, clock, record.user_id, record.session_id)] * 2 + [bill] * 3
    # A run that had read the record before any upgrade (the index only lists upgraded ones,
    # but a re-read can hand billing such a session): its stale view must not charge twice.
    calls += [lambda: bill_session(store, clock, as_read, RunReport())] * 3
    together(*calls)
    bill()  # whatever the race left, one more serial run settles

    entries = ledger_of(record.session_id)
    assert sorted((e.first_minute, e.minutes) for e in entries) in ([(3, 2)], [(3, 1), (4, 1)])
    ours = sum(e.amount for e in entries)
    assert ours == 2 * RATE
    stored = session_item(record.session_id)
    assert (stored.billed_minutes, stored.charged, stored.legacy_charged) == (4, record.charged + ours, record.charged)
    assert balance_of(record.user_id) == 10_000 - ours
    assert int(account_item(record.user_id).debited) == ours


def test_a_poll_that_read_schema1_before_a_billing_run_cannot_undo_its_charge(world):
    """The one interleaving the threads above rarely hit, step by step: poll B reads the
    schema-1 record; poll A upgrades it; billing charges minutes 3 and 4; B's upgrade lands
    last. It must be refused and hand B the record as billing left it."""
    store, clock, records = world
    record = records["partly_billed"]
    add_user(record.user_id, 10_000)
    put_legacy([record])
    read_by_b = store.read(session_id=record.session_id).session

    poll_session(store, clock, record.user_id, record.session_id)
    report = run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=0, workers=2)
    outcome, seen_by_b, _ = legacy.upgrade(store, read_by_b, clock)
    late = RunReport()
    bill_session(store, clock, read_by_b, late)

    assert report.minutes_charged == 2
    assert outcome == legacy.UPGRADED_ELSEWHERE
    assert (seen_by_b.billed_minutes, seen_by_b.charged) == (4, record.charged + 2 * RATE)
    assert late.minutes_charged == 0
    stored = session_item(record.session_id)
    assert (stored.billed_minutes, stored.charged) == (4, record.charged + 2 * RATE)
    assert [(e.first_minute, e.minutes) for e in ledger_of(record.session_id)] == [(3, 2)]
    assert balance_of(record.user_id) == 10_000 - 2 * RATE


def test_the_backfill_under_concurrent_polls_loses_nothing(world, tmp_path):
    store, clock, _ = world
    ids = [f"busy-{n:04d}" for n in range(30)]
    for n in range(len(ids)):
        add_user(f"u-busy-{n}", 10_000)
    put_legacy(
        schema1_item(
            session_id,
            f"u-busy-{n}",
            "a-busy",
            created_at=seconds(clock() - 90_000 - n),
            timer_start=seconds(clock() - 80_000 - n) if n % 2 else None,
            billed_minutes=1,
            charged=RATE,
        )
        for n, session_id in enumerate(ids)
    )
    done = threading.Event()
    views = []

    def poller(offset):
        n = offset
        while not done.is_set():
            session_id = ids[n % len(ids)]
            views.append(poll_session(store, clock, f"u-busy-{n % len(ids)}", session_id))
            n += 3

    with captured_log() as log, ThreadPoolExecutor(3) as pool:
        pollers = [pool.submit(poller, offset) for offset in range(3)]
        run = BackfillRun(tmp_path, clock, "--segments", "4", "--workers", "3", "--page-size", "5")
        done.set()
        for future in pollers:
            future.result()

    assert run.status == 0, run.text
    assert views, "the pollers never ran"
    lines = log.timer_lines() + run.log.timer_lines()  # the run captures while it runs
    assert sorted(line["session_id"] for line in lines) == ids  # each upgraded exactly once
    assert run.figure("upgraded") <= len(ids)
    for n, item in enumerate(raw_items()):
        expected_ms = clock() - (80_000 if n % 2 else 90_000) - n
        assert item["schema_version"] == {"N": "2"}
        assert item["started_at_ms"] == {"N": str(expected_ms)}
        assert (item["billed_minutes"], item["charged"]) == ({"N": "1"}, {"N": str(RATE)})
        assert active_sessions_of(f"u-busy-{n}") == {ids[n]}
    for view in views:
        n = ids.index(view["session_id"])
        assert view["started_at"] == iso_ms(clock() - (80_000 if n % 2 else 90_000) - n)
