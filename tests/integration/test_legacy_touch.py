"""Schema-1 records touched through the API: read with the contract's start, upgraded once in place,
then polled, ended and billed like new sessions (chalice.test.Client on moto)."""

import pytest

from chalicelib.domain.instants import day_of, iso_ms
from chalicelib.domain.session import LEGACY_TIMER_START
from chalicelib.legacy import upgrade as legacy
from chalicelib.services.billing import run_billing
from chalicelib.store.models import SessionItem
from chalicelib.store.records import to_session
from harness.dynamo import account_item, active_sessions_of, add_advisor, add_user, balance_of, ledger_of, session_item
from harness.legacy import RATE, captured_log, legacy_records, put_legacy, raw_item

BALANCE = 10_000
KINDS = legacy_records(0)
USABLE = sorted(kind for kind, record in KINDS.items() if record.usable)
UNUSABLE = sorted(kind for kind, record in KINDS.items() if not record.usable)


@pytest.fixture
def records(dynamo, clock):
    """Every kind, written as the previous release wrote it, with a funded user each."""
    records = legacy_records(clock())
    for record in records.values():
        add_user(record.user_id, BALANCE)
    put_legacy(records.values())
    add_advisor("a-legacy", RATE)
    return records


def expected_elapsed_s(record, now_ms):
    if record.active:
        return round((now_ms - record.start_ms) / 1000, 3)
    if record.ended_at_ms is None:
        return record.billed_minutes * 60  # the contract: an ended record without an end time
    return round((record.ended_at_ms - record.start_ms) / 1000, 3)


@pytest.mark.parametrize("kind", USABLE)
def test_first_poll_shows_the_legacy_start_and_upgrades_in_place(api, records, clock, kind):
    record = records[kind]
    before = raw_item(record.session_id)

    with captured_log() as log:
        status, view, _ = api.poll(record.user_id, record.session_id)

    assert status == 200, view
    assert view["started_at"] == iso_ms(record.start_ms)
    assert view["elapsed_seconds"] == expected_elapsed_s(record, clock())
    assert view["ended_at"] == iso_ms(record.ended_at_ms)
    assert (view["billed_minutes"], view["charged"]) == (record.billed_minutes, record.charged)
    assert view["timer"] == {"state": "running" if record.active else "stopped", "initialized": "legacy"}
    stored = raw_item(record.session_id)
    assert stored["schema_version"] == {"N": "2"}
    assert stored["started_at_ms"] == {"N": str(record.start_ms)}
    assert stored["started_at"] == {"S": iso_ms(record.start_ms)}
    assert stored["started_day"] == {"S": day_of(record.start_ms)}
    assert stored["timer_init"] == {"S": record.init}
    assert stored["legacy_charged"] == {"N": str(record.charged)}
    assert ("active_shard" in stored) == record.active
    # What the old release wrote stays as it was, for the record.
    for name in ("created_at", "timer_start", "rate_per_minute", "user_id", "advisor_id"):
        assert stored.get(name) == before.get(name)
    [line] = log.timer_lines(record.session_id)
    assert (line["timer_init"], line["start_lag_ms"]) == (record.init, record.lag_ms)
    assert line["started_at"] == iso_ms(record.start_ms)
    assert (line["user_id"], line["advisor_id"]) == (record.user_id, record.advisor_id)


def test_after_the_upgrade_a_poll_is_one_read_and_writes_nothing(api, records, clock, dynamo_calls):
    record = records["timer_start"]
    with dynamo_calls.counting():
        api.poll(record.user_id, record.session_id)
        assert dynamo_calls.calls == ["TransactGetItems", "TransactWriteItems"]
    clock.advance(seconds=15)
    with captured_log() as log, dynamo_calls.counting():
        status, view, _ = api.poll(record.user_id, record.session_id)
        assert dynamo_calls.calls == ["TransactGetItems"]
    assert status == 200
    assert view["elapsed_seconds"] == round((clock() - record.start_ms) / 1000, 3)
    assert log.timer_lines() == []


@pytest.mark.parametrize("kind", UNUSABLE)
def test_a_record_that_cannot_be_upgraded_is_refused_and_left_alone(api, records, kind):
    record = records[kind]
    before = raw_item(record.session_id)

    with captured_log() as log:
        status, body, _ = api.poll(record.user_id, record.session_id)

    assert status == 409
    assert body["error"] == "legacy_record_unusable"
    # The client is told a person must repair it; what is wrong is for the operator's log.
    assert record.problem not in body["message"] and "repaired" in body["message"]
    [line] = log.lines("legacy_record_unusable")
    assert (line["session_id"], line["reason"]) == (record.session_id, record.problem)
    assert raw_item(record.session_id) == before
    assert active_sessions_of(record.user_id) == set()
    # To anyone but its user and advisor it does not exist, as for any session.
    status, body, _ = api.poll("u-stranger", record.session_id)
    assert (status, body["error"]) == (404, "session_not_found")


def test_the_advisor_first_touch_upgrades_it_and_marks_the_user_busy(api, records):
    record = records["created_at_only"]
    status, view, _ = api.poll(record.advisor_id, record.session_id)
    assert status == 200
    assert "balance" not in view
    assert view["started_at"] == iso_ms(record.start_ms)
    assert active_sessions_of(record.user_id) == {record.session_id}


def test_an_upgraded_session_counts_for_the_one_active_session_rule(api, records):
    record = records["timer_start"]
    api.poll(record.user_id, record.session_id)

    status, body, _ = api.start(record.user_id, "a-legacy", session_id="new-after-legacy")

    assert status == 409
    assert (body["error"], body["active_session_id"]) == ("active_session_exists", record.session_id)


def test_end_as_the_first_touch_charges_the_rest_and_frees_the_user(api, records, clock):
    record = records["partly_billed"]  # 185.5 s: 4 started minutes, 2 billed by the old release

    status, view, _ = api.end(record.user_id, record.session_id)

    assert status == 200, view
    assert (view["status"], view["end_reason"], view["billed_minutes"]) == ("ended", "user", 4)
    assert view["charged"] == 2 * RATE + 2 * RATE
    assert view["elapsed_seconds"] == 185.5
    [entry] = ledger_of(record.session_id)
    assert (entry.first_minute, entry.minutes, entry.amount) == (3, 2, 2 * RATE)
    assert balance_of(record.user_id) == BALANCE - 2 * RATE
    assert active_sessions_of(record.user_id) == set()
    status, _, _ = api.start(record.user_id, "a-legacy", session_id="new-after-end")
    assert status == 201


def test_charged_is_what_the_old_release_charged_plus_our_ledger(api, records, clock, store):
    record = records["partly_billed"]
    api.poll(record.user_id, record.session_id)  # upgraded: billing finds it from now on
    for _ in range(3):
        run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=0, workers=2)
        clock.advance(seconds=61)
    status, view, _ = api.end(record.user_id, record.session_id)

    ours = sum(entry.amount for entry in ledger_of(record.session_id))
    assert status == 200
    assert ours == (view["billed_minutes"] - record.billed_minutes) * RATE > 0
    assert view["charged"] == record.charged + ours
    assert session_item(record.session_id).charged == record.charged + ours
    assert session_item(record.session_id).legacy_charged == record.charged
    assert balance_of(record.user_id) == BALANCE - ours
    assert int(account_item(record.user_id).debited) == ours


def test_repeating_a_legacy_session_id_returns_it_upgraded(api, records):
    record = records["timer_start"]
    status, view, _ = api.start(record.user_id, "a-legacy", session_id=record.session_id)
    assert status == 200
    assert view["started_at"] == iso_ms(record.start_ms)
    assert view["timer"]["initialized"] == "legacy"
    assert session_item(record.session_id).schema_version == 2
    status, body, _ = api.start("u-stranger", "a-legacy", session_id=record.session_id)
    assert (status, body["error"]) == (409, "session_id_taken")


def test_a_record_changed_after_it_was_read_is_upgraded_from_what_it_holds_now(records, store, clock):
    record = records["created_at_only"]
    stale = to_session(SessionItem.get(record.session_id, consistent_read=True))
    # The old release, still draining, starts the timer after our read.
    started_ms = clock() - 100_000
    SessionItem(record.session_id).update(actions=[SessionItem.timer_start.set(started_ms / 1000)])

    outcome, session, _ = legacy.upgrade(store, stale, clock)

    assert outcome == legacy.UPGRADED
    assert (session.started_at_ms, session.timer_init) == (started_ms, LEGACY_TIMER_START)
    assert session_item(record.session_id).started_at_ms == started_ms


def test_an_upgrade_that_lost_the_race_returns_the_winner_and_writes_nothing(records, store, clock, dynamo_calls):
    record = records["timer_start"]
    stale = to_session(SessionItem.get(record.session_id, consistent_read=True))
    legacy.upgrade(store, stale, clock)
    clock.advance(seconds=5)

    with captured_log() as log, dynamo_calls.counting():
        outcome, session, _ = legacy.upgrade(store, stale, clock)
        # The refusal carries the stored item: no second read.
        assert dynamo_calls.calls == ["TransactWriteItems"]

    assert outcome == legacy.UPGRADED_ELSEWHERE
    assert session.started_at_ms == record.start_ms
    assert not session.is_legacy_unupgraded
    assert session_item(record.session_id).upgraded_at == iso_ms(clock() - 5_000)
    assert log.timer_lines() == []


def test_a_start_racing_an_ended_schema1_record_with_an_end_time_answers_it(api, demo, clock, monkeypatch):
    """The transaction's refusal carries the stored item back; a schema-1 one (epoch-seconds
    `ended_at`) must be read through the same translation as any other read, not crash."""
    from chalicelib.services.ports import Snapshot
    from chalicelib.store.dynamo import DynamoStore
    from harness.legacy import put_legacy, schema1_item, seconds

    start_ms = clock.now_ms - 600_000
    put_legacy(
        [
            schema1_item(
                "old-raced-1",
                demo["user"],
                demo["advisor"],
                status="ended",
                created_at=seconds(start_ms),
                timer_start=seconds(start_ms),
                ended_at=seconds(start_ms + 90_000),
                billed_minutes=2,
                charged=300,
            )
        ]
    )
    real_read = DynamoStore.read

    def read_missing_the_record(store, session_id=None, **kw):  # it lands after our read
        snap = real_read(store, session_id=session_id, **kw)
        return Snapshot(session=None, account=snap.account, advisor=snap.advisor)

    monkeypatch.setattr(DynamoStore, "read", read_missing_the_record)
    status, view, _ = api.start(demo["user"], demo["advisor"], session_id="old-raced-1")

    assert status == 200
    assert view["status"] == "ended"
    assert view["elapsed_seconds"] == 90
