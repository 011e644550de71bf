"""One billing run on moto: what it charges, what it costs, credits exhaustion to the
millisecond, the deadline, a failing session, and the log line and metrics it leaves."""

import json

import pytest

import app as app_module
from chalicelib import observability
from chalicelib.domain.instants import iso_ms
from chalicelib.local.driver import DriverContext, scheduled_event
from chalicelib.services.billing import run_billing
from chalicelib.services.schedule import scheduled_billing
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.billing import billing_state, books_problems, seed_sessions
from harness.clock import MINUTE_MS
from harness.dynamo import account_item, active_sessions_of, add_advisor, add_user, balance_of, ledger_of, session_item
from harness.faults import INTERNAL, failing_call


# In-process moto is not safe under concurrent requests (a cancelled transaction restores
# whole-table copies): runs with several workers go to the serialised server instead.
def _run(store, clock, remaining_ms=lambda: 60_000, workers=1):
    return run_billing(store, clock, remaining_ms=remaining_ms, safety_margin_ms=10_000, workers=workers)


def assert_outcomes_add_up(report):
    outcomes = (
        "sessions_charged",
        "ended_exhausted",
        "ended_idle",
        "skipped_nothing_owed",
        "skipped_raced",
        "left_over",
        "failed",
    )
    assert sum(getattr(report, name) for name in outcomes) == report.sessions_seen


@pytest.fixture
def served_store(moto_server):
    return DynamoStore(current())


def test_a_run_charges_every_started_minute_and_the_books_balance(api, demo, clock, store):
    api.start(demo["user"], demo["advisor"], session_id="run-000001")
    clock.advance(ms=2 * MINUTE_MS + 1)  # three started minutes

    report = _run(store, clock)

    assert (report.sessions_charged, report.minutes_charged, report.units_charged) == (1, 3, 3 * 199)
    _, view, _ = api.poll(demo["user"], "run-000001")
    assert (view["status"], view["billed_minutes"], view["charged"]) == ("active", 3, 3 * 199)
    assert view["balance"] == 10_000 - 3 * 199
    [entry] = ledger_of("run-000001")
    assert (entry.first_minute, entry.minutes, entry.amount, entry.kind) == (1, 3, 597, "billing")
    assert account_item(demo["user"]).debited == 597
    # The end charges only what the run has not: the fourth minute, started since.
    clock.advance(seconds=60)
    _, ended, _ = api.end(demo["user"], "run-000001")
    assert ended["charged"] == 4 * 199
    assert [(e.first_minute, e.minutes) for e in ledger_of("run-000001")] == [(1, 3), (4, 1)]


def test_request_cost_one_transaction_per_session_owing_a_minute_and_one_query_per_shard(
    dynamo, store, clock, dynamo_calls
):
    balances = seed_sessions(store, clock, 12, prefix="cost")
    first = _run(store, clock)
    owing = first.sessions_charged + first.ended_exhausted
    assert owing >= 8 and first.skipped_nothing_owed >= 1  # the mix has both kinds

    clock.advance(seconds=45)
    state_before = billing_state()
    dynamo_calls.reset()
    report = _run(store, clock)

    shards = store.settings.active_shards
    # Owing a minute: one transaction; running out of credit: a refused one, then the exhaustion.
    transactions = report.sessions_charged + 2 * report.ended_exhausted
    assert report.sessions_charged >= 4 and report.ended_exhausted >= 1 and report.skipped_nothing_owed >= 1
    assert dynamo_calls.calls.count("TransactWriteItems") == transactions
    assert dynamo_calls.calls.count("Query") == shards
    assert len(dynamo_calls.calls) == shards + transactions
    assert_outcomes_add_up(report)
    assert billing_state() != state_before
    assert books_problems(balances, clock()) == []


def test_a_run_over_sessions_owing_nothing_writes_nothing(dynamo, store, clock, dynamo_calls):
    seed_sessions(store, clock, 6, prefix="none")
    _run(store, clock)
    dynamo_calls.reset()

    report = _run(store, clock)

    assert report.sessions_charged == report.ended_exhausted == 0
    assert dynamo_calls.calls == ["Query"] * store.settings.active_shards


def test_credits_run_out_the_session_ends_at_the_paid_minutes_to_the_millisecond(api, demo, clock, store):
    add_user("u-short", 2 * 199 + 50)
    _, started, _ = api.start("u-short", demo["advisor"], session_id="run-000002")
    clock.advance(ms=2 * MINUTE_MS + 17_345)
    _, before, _ = api.poll("u-short", "run-000002")

    report = _run(store, clock)

    _, after, _ = api.poll("u-short", "run-000002")
    assert report.ended_exhausted == 1 and report.units_charged == 2 * 199
    # The poll had already frozen the display at the cap; the run ended the session there.
    assert before["elapsed_seconds"] == after["elapsed_seconds"] == 120.0
    assert before["seconds_remaining"] == 0 and before["timer"]["state"] == "stopped"
    assert after["status"] == "ended" and after["end_reason"] == "credits_exhausted"
    stored = session_item("run-000002")
    assert stored.ended_at_ms == stored.started_at_ms + 2 * MINUTE_MS
    assert after["ended_at"] == iso_ms(stored.ended_at_ms) and started["started_at"] == iso_ms(stored.started_at_ms)
    assert (after["billed_minutes"], after["charged"], after["balance"]) == (2, 398, 50)
    assert after["seconds_remaining"] is None
    assert active_sessions_of("u-short") == set()
    assert session_item("run-000002").active_shard is None
    # The marker is gone, so the user may start again (the 50 left are below a minute: 402).
    add_user("u-short", 500)
    status, _, _ = api.start("u-short", demo["advisor"], session_id="run-000003")
    assert status == 201


def test_before_the_cap_a_run_and_a_poll_agree_on_the_remaining_time(api, demo, clock, store):
    add_user("u-five", 5 * 100 + 30)
    add_advisor("a-100", 100)
    api.start("u-five", "a-100", session_id="run-000004")
    clock.advance(ms=90_500)
    _, before, _ = api.poll("u-five", "run-000004")
    _run(store, clock)
    _, after, _ = api.poll("u-five", "run-000004")
    assert before["seconds_remaining"] == after["seconds_remaining"] == 5 * 60 - 90.5
    assert before["elapsed_seconds"] == after["elapsed_seconds"] == 90.5
    assert (after["billed_minutes"], after["balance"]) == (2, 330)


def test_past_the_deadline_nothing_is_read_every_shard_is_cut_short_and_the_next_run_bills_it(
    dynamo, store, clock, dynamo_calls
):
    balances = seed_sessions(store, clock, 9, prefix="late")
    before = billing_state()
    dynamo_calls.reset()

    report = _run(store, clock, remaining_ms=lambda: 9_999)  # just under the 10 s margin

    assert report.shards_cut_short == store.settings.active_shards
    assert report.sessions_seen == report.left_over == report.sessions_charged == report.failed == 0
    assert dynamo_calls.calls == []  # not even a query to count what is left
    assert billing_state() == before

    caught_up = _run(store, clock)
    assert caught_up.left_over == caught_up.shards_cut_short == 0
    assert caught_up.sessions_charged + caught_up.ended_exhausted + caught_up.skipped_nothing_owed == 9
    assert books_problems(balances, clock()) == []


def test_a_deadline_reached_midway_stops_reading_and_leaves_the_rest_for_the_next_run(
    dynamo, store, clock, dynamo_calls
):
    seed_sessions(store, clock, 9, prefix="mid")
    budget = iter([60_000] * 4)  # four looks at the remaining time find some, then none
    dynamo_calls.reset()

    report = _run(store, clock, remaining_ms=lambda: next(budget, 0))

    # Nothing is read past the deadline: at most the session in hand is left over, and every
    # shard not read to its end is cut short (queried only if it was cut in the middle).
    assert report.sessions_seen < 9 and report.left_over <= 1 and report.shards_cut_short >= 1
    assert (
        dynamo_calls.calls.count("Query") == store.settings.active_shards - report.shards_cut_short + report.left_over
    )
    assert_outcomes_add_up(report)
    nxt = _run(store, clock)
    assert nxt.left_over == nxt.shards_cut_short == 0 and nxt.sessions_charged + nxt.ended_exhausted >= 3
    caught_up = _run(store, clock)
    assert caught_up.sessions_charged == caught_up.ended_exhausted == 0


def test_one_failing_session_never_stops_the_others(served_store, clock, monkeypatch, logs):
    store = served_store
    balances = seed_sessions(store, clock, 6, prefix="one")
    victim = "one-s004"

    def victim_charge(operation, params):
        return operation == "TransactWriteItems" and victim in json.dumps(params)

    with failing_call(monkeypatch, 0, INTERNAL, matches=victim_charge) as seen:
        report = run_billing(store, clock, lambda: 60_000, 10_000, workers=2, on_failure=observability.billing_failure)

    assert seen == ["TransactWriteItems"]
    assert report.failed == 1
    assert report.sessions_charged + report.ended_exhausted == 4  # the other sessions owing
    assert_outcomes_add_up(report)
    assert session_item(victim).billed_minutes == 0
    failure = [json.loads(line) for line in logs.readouterr().out.splitlines() if '"billing_failed"' in line]
    assert [(f["session_id"], f["level"]) for f in failure] == [(victim, "ERROR")]

    nxt = _run(store, clock)
    assert nxt.sessions_charged == 1 and session_item(victim).billed_minutes > 0
    assert books_problems(balances, clock()) == []


def _emitted(capsys):
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [run_line] = [line for line in lines if line.get("event") == "billing_run"]
    [emf] = [line for line in lines if "_aws" in line]
    return run_line, emf


def test_the_scheduled_handler_logs_one_run_line_and_emits_its_metrics(served_store, clock, logs):
    seed_sessions(served_store, clock, 12, prefix="emf")
    logs.readouterr()
    event = scheduled_event()

    report = app_module.bill_active_sessions(event, DriverContext(55_000))

    run_line, emf = _emitted(logs)
    assert run_line["message"] == "billing run finished"
    assert run_line["event_id"] == event["id"] == run_line["correlation_id"]
    for key in (
        "sessions_charged",
        "minutes_charged",
        "units_charged",
        "ended_exhausted",
        "skipped_nothing_owed",
        "left_over",
        "shards_cut_short",
        "failed",
        "duration_ms",
    ):
        assert run_line[key] == report[key]
    assert report["minutes_charged"] > 0 and report["ended_exhausted"] > 0
    names = {m["Name"]: m["Unit"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SessionTimer"
    expected = {
        "MinutesCharged": "minutes_charged",
        "UnitsCharged": "units_charged",
        "SessionsCharged": "sessions_charged",
        "SessionsEndedExhausted": "ended_exhausted",
        "SessionsEndedIdle": "ended_idle",
        "SessionsLeftOver": "left_over",
        "ShardsCutShort": "shards_cut_short",
        "BillingFailures": "failed",
        "BillingRunDuration": "duration_ms",
    }
    assert set(names) == set(expected)
    assert names["BillingRunDuration"] == "Milliseconds"
    for metric, key in expected.items():
        assert emf[metric] == [report[key]]  # EMF values are lists


def test_a_run_near_its_deadline_reports_what_it_left(dynamo, clock, store, logs):
    seed_sessions(store, clock, 5, prefix="emfl")
    logs.readouterr()

    report = scheduled_billing(store, clock, DriverContext(timeout_ms=5_000))

    run_line, emf = _emitted(logs)
    # Out of time before the first shard: nothing read, so nothing counted as left over, and
    # every shard cut short.
    shards = store.settings.active_shards
    assert report["left_over"] == run_line["left_over"] == 0 and emf["SessionsLeftOver"] == [0]
    assert report["shards_cut_short"] == run_line["shards_cut_short"] == shards and emf["ShardsCutShort"] == [shards]
    assert emf["MinutesCharged"] == [0]


@pytest.mark.parametrize("offset_ms", [-1, 0, 1])
def test_minute_boundaries_on_a_real_table(api, demo, clock, store, offset_ms):
    api.start(demo["user"], demo["advisor"], session_id="edge-00001")
    clock.advance(ms=MINUTE_MS + offset_ms)
    _run(store, clock)
    assert session_item("edge-00001").billed_minutes == (1 if offset_ms <= 0 else 2)
    assert balance_of(demo["user"]) == 10_000 - 199 * (1 if offset_ms <= 0 else 2)
