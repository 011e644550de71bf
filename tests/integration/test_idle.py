"""Idle sessions on moto (docs/contract.md, "Idle sessions"): who counts as seen, the heartbeat's
cost and conditions, the idle end by a poll, an end, a start and a billing run, and the
sessions this release has not recorded yet."""

import pytest

from chalicelib.domain.instants import iso_ms
from chalicelib.domain.presence import Presence
from chalicelib.services.billing import run_billing
from chalicelib.services.end import presence_of
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from chalicelib.store.models import LAST_SEEN_PREFIX
from harness.clock import MINUTE_MS, START_MS
from harness.dynamo import account_item, active_sessions_of, balance_of, ledger_of, raw_client, session_item
from harness.faults import failing

IDLE_S = 120
IDLE_MS = IDLE_S * 1000


@pytest.fixture(autouse=True)
def idle_limit(monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_SECONDS", str(IDLE_S))


def last_seen(user_id: str, session_id: str):
    """The account's last-seen attribute for the session, read raw; None when absent."""
    item = raw_client().get_item(TableName=current().accounts_table, Key={"user_id": {"S": user_id}})["Item"]
    value = item.get(LAST_SEEN_PREFIX + session_id)
    return None if value is None else int(value["N"])


def bill(clock):
    return run_billing(DynamoStore(current()), clock, remaining_ms=lambda: 60_000, safety_margin_ms=10_000, workers=1)


# ---- seen: the user's start and polls, not the advisor's ---------------------------------


def test_the_start_is_the_first_sighting(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="idle-0001")
    assert last_seen(demo["user"], "idle-0001") == START_MS


def test_a_users_poll_records_seen_once_per_quarter_of_the_limit(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="idle-0002")
    dynamo_calls.reset()
    written = []
    for _ in range(8):  # a page polling every 15 s for two minutes
        clock.advance(seconds=15)
        before = len(dynamo_calls.calls)
        status, view, _ = api.poll(demo["user"], "idle-0002")
        assert status == 200 and view["status"] == "active"
        if "UpdateItem" in dynamo_calls.calls[before:]:
            written.append(clock() - START_MS)
    # Due at 30 s after the last record: 30, 60, 90, 120 s; never more than one a poll.
    assert written == [30_000, 60_000, 90_000, 120_000]
    assert last_seen(demo["user"], "idle-0002") == START_MS + 120_000


def test_a_poll_with_no_heartbeat_due_is_one_request_and_one_due_is_two(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="idle-0003")
    clock.advance(ms=IDLE_MS // 4 - 1)
    dynamo_calls.reset()
    api.poll(demo["user"], "idle-0003")
    not_due = list(dynamo_calls.calls)
    clock.advance(ms=1)
    dynamo_calls.reset()
    api.poll(demo["user"], "idle-0003")
    due = list(dynamo_calls.calls)

    assert not_due == ["TransactGetItems"]
    assert due == ["TransactGetItems", "UpdateItem"]


def test_the_advisors_polls_do_not_count(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="idle-0004")
    for _ in range(7):
        clock.advance(seconds=15)
        status, view, _ = api.poll(demo["advisor"], "idle-0004")
        assert view["status"] == "active"
    assert "UpdateItem" not in dynamo_calls.calls
    assert last_seen(demo["user"], "idle-0004") == START_MS


def test_a_failing_heartbeat_never_fails_the_poll(api, demo, clock, monkeypatch):
    api.start(demo["user"], demo["advisor"], session_id="idle-0005")
    clock.advance(seconds=40)
    with failing(monkeypatch, "UpdateItem") as failures:
        status, view, _ = api.poll(demo["user"], "idle-0005")
    assert failures == ["UpdateItem"]
    assert status == 200 and view["status"] == "active"
    assert last_seen(demo["user"], "idle-0005") == START_MS  # the next poll tries again


# ---- the idle end ------------------------------------------------------------------------


def test_a_poll_after_the_idle_instant_gets_the_ended_view_and_writes_the_end(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="idle-0006")
    clock.advance(seconds=45)
    api.poll(demo["user"], "idle-0006")  # seen at 45 s: idle at 165 s, 3 started minutes
    clock.advance(seconds=300)

    for caller in (demo["advisor"], demo["user"]):
        status, view, _ = api.poll(caller, "idle-0006")
        assert status == 200
        assert (view["status"], view["end_reason"]) == ("ended", "idle")
        assert view["ended_at"] == iso_ms(START_MS + 45_000 + IDLE_MS)
        assert view["elapsed_seconds"] == 165.0
        assert (view["billed_minutes"], view["charged"]) == (3, 3 * 199)
        assert view["timer"]["state"] == "stopped"
    assert session_item("idle-0006").end_reason == "idle"
    assert balance_of(demo["user"]) == 10_000 - 3 * 199
    assert [(e.first_minute, e.minutes, e.kind) for e in ledger_of("idle-0006")] == [(1, 3, "idle")]
    assert active_sessions_of(demo["user"]) == set()
    assert last_seen(demo["user"], "idle-0006") is None


@pytest.mark.parametrize(
    "seen_at_ms, minutes", [(3 * MINUTE_MS - IDLE_MS, 3), (3 * MINUTE_MS - IDLE_MS + 1, 4)], ids=["on", "after"]
)
def test_the_idle_charge_counts_started_minutes_to_the_millisecond(api, demo, clock, seen_at_ms, minutes):
    # Idle exactly at the 3-minute mark owes 3 minutes; one millisecond later, 4.
    api.start(demo["user"], demo["advisor"], session_id="idle-0007")
    clock.advance(ms=seen_at_ms)
    api.poll(demo["user"], "idle-0007")
    assert last_seen(demo["user"], "idle-0007") == START_MS + seen_at_ms
    clock.advance(seconds=600)
    _, view, _ = api.poll(demo["advisor"], "idle-0007")
    assert view["end_reason"] == "idle"
    assert view["billed_minutes"] == minutes
    assert balance_of(demo["user"]) == 10_000 - minutes * 199


def test_one_millisecond_before_the_idle_instant_the_session_is_active(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="idle-0008")
    clock.advance(ms=IDLE_MS - 1)
    _, view, _ = api.poll(demo["advisor"], "idle-0008")
    assert view["status"] == "active"
    clock.advance(ms=1)
    _, view, _ = api.poll(demo["advisor"], "idle-0008")
    assert (view["status"], view["end_reason"], view["elapsed_seconds"]) == ("ended", "idle", IDLE_S)


def test_a_late_poll_of_the_user_does_not_revive_it(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="idle-0009")
    clock.advance(seconds=IDLE_S + 30)
    _, first, _ = api.poll(demo["user"], "idle-0009")
    clock.advance(seconds=15)
    dynamo_calls.reset()
    _, again, _ = api.poll(demo["user"], "idle-0009")
    assert first["status"] == again["status"] == "ended"
    assert again["ended_at"] == first["ended_at"] and again["elapsed_seconds"] == first["elapsed_seconds"]
    assert dynamo_calls.calls == ["TransactGetItems"]  # no heartbeat for an ended session
    assert last_seen(demo["user"], "idle-0009") is None


def test_an_end_after_the_idle_instant_ends_it_as_idle(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="idle-0010")
    clock.advance(seconds=IDLE_S + 200)
    status, view, _ = api.end(demo["user"], "idle-0010")
    assert status == 200
    assert (view["end_reason"], view["ended_at"]) == ("idle", iso_ms(START_MS + IDLE_MS))
    assert view["billed_minutes"] == 2


def test_the_credit_end_wins_when_it_comes_first(api, demo, clock):
    from harness.dynamo import add_user

    add_user("u-short", 199)  # one minute: the credits end at 60 s, idle would at 120 s
    api.start("u-short", demo["advisor"], session_id="idle-0011")
    clock.advance(seconds=600)
    status, view, _ = api.end("u-short", "idle-0011")
    assert status == 200, view
    assert (view["end_reason"], view["ended_at"]) == ("credits_exhausted", iso_ms(START_MS + MINUTE_MS))
    assert balance_of("u-short") == 0


def test_the_user_can_start_again_while_the_idle_session_is_not_yet_written(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="idle-0012")
    clock.advance(seconds=IDLE_S * 3)
    status, view, _ = api.start(demo["user"], demo["advisor"], session_id="idle-0013")
    assert status == 201 and view["status"] == "active"
    old = session_item("idle-0012")
    assert (old.status, old.end_reason, old.ended_at_ms) == ("ended", "idle", START_MS + IDLE_MS)
    assert active_sessions_of(demo["user"]) == {"idle-0013"}
    assert balance_of(demo["user"]) == 10_000 - 2 * 199


def test_a_session_still_in_use_still_refuses_a_second_start(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="idle-0014")
    clock.advance(ms=IDLE_MS - 1)
    status, body, _ = api.start(demo["user"], demo["advisor"], session_id="idle-0015")
    assert status == 409 and body["active_session_id"] == "idle-0014"
    assert session_item("idle-0014").status == "active"


# ---- billing ends idle sessions ----------------------------------------------------------


def test_billing_ends_an_idle_session_in_one_transaction_without_reading_the_account(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="idle-0016")
    clock.advance(seconds=30)
    assert bill(clock).sessions_charged == 1  # minute 1, the user present
    clock.advance(seconds=IDLE_S + 30)  # idle at 120 s; billing comes at 180 s
    dynamo_calls.reset()

    report = bill(clock)

    assert (report.ended_idle, report.sessions_seen, report.failed) == (1, 1, 0)
    # The charge assumed presence and was refused with the account; the idle end followed.
    assert _without_queries(dynamo_calls.calls) == ["TransactWriteItems", "TransactWriteItems"]
    item = session_item("idle-0016")
    assert (item.status, item.end_reason, item.ended_at_ms, item.billed_minutes) == (
        "ended",
        "idle",
        START_MS + IDLE_MS,
        2,
    )
    assert [(e.first_minute, e.minutes, e.kind) for e in ledger_of("idle-0016")] == [(1, 1, "billing"), (2, 1, "idle")]
    assert balance_of(demo["user"]) == 10_000 - 2 * 199
    assert active_sessions_of(demo["user"]) == set()


def test_billing_a_present_user_costs_what_it_did(api, demo, clock, dynamo_calls):
    api.start(demo["user"], demo["advisor"], session_id="idle-0017")
    for _ in range(4):
        clock.advance(seconds=30)
        api.poll(demo["user"], "idle-0017")
    dynamo_calls.reset()
    report = bill(clock)
    assert report.sessions_charged == 1
    assert _without_queries(dynamo_calls.calls) == ["TransactWriteItems"]


def _without_queries(calls):
    """A run's calls but its index queries (one per shard, whatever the sessions)."""
    assert calls.count("Query") == current().active_shards
    return [call for call in calls if call != "Query"]


def test_a_heartbeat_between_billings_read_and_its_idle_end_wins(api, demo, clock, store):
    """The idle end is conditioned on the last-seen it was decided from."""
    api.start(demo["user"], demo["advisor"], session_id="idle-0018")
    clock.advance(ms=IDLE_MS - 1)
    session, account = _view(store, demo["user"], "idle-0018")
    stale = presence_of(store, session, account)
    assert store.record_seen(session, stale.last_seen_ms, clock())  # the page polled just in time
    clock.advance(ms=2)
    from chalicelib.domain.billing import forced_end
    from chalicelib.domain.errors import ChargeConflict

    charge = forced_end(session, account.balance, stale, clock())
    assert charge is not None and charge.ends_idle
    with pytest.raises(ChargeConflict):
        store.commit_charge(session, charge)
    assert session_item("idle-0018").status == "active"


def test_a_heartbeat_after_the_idle_end_is_refused(api, demo, clock, store):
    api.start(demo["user"], demo["advisor"], session_id="idle-0019")
    session, account = _view(store, demo["user"], "idle-0019")
    clock.advance(seconds=IDLE_S + 1)
    api.poll(demo["advisor"], "idle-0019")  # ends it as idle
    assert not store.record_seen(session, START_MS, clock())
    assert last_seen(demo["user"], "idle-0019") is None
    assert session_item("idle-0019").status == "ended"


def _view(store, user_id, session_id):
    view = store.view(session_id, user_id)
    return view.session, view.account


# ---- sessions this release has not recorded ---------------------------------------------


def _forget_last_seen(user_id: str, session_id: str) -> None:
    """As the previous build left its sessions: no last-seen attribute."""
    raw_client().update_item(
        TableName=current().accounts_table,
        Key={"user_id": {"S": user_id}},
        UpdateExpression="REMOVE #s",
        ExpressionAttributeNames={"#s": LAST_SEEN_PREFIX + session_id},
    )


def _unrecorded_session_polled(api, demo, clock, session_id, caller):
    """A session of the previous build, polled by `caller` long after the limit: active."""
    api.start(demo["user"], demo["advisor"], session_id=session_id)
    _forget_last_seen(demo["user"], session_id)
    clock.advance(seconds=IDLE_S * 5)
    _, view, _ = api.poll(caller, session_id)
    assert view["status"] == "active"


def test_a_session_never_recorded_is_not_idle_until_its_first_charge_records_it(api, demo, clock):
    _unrecorded_session_polled(api, demo, clock, "idle-0020", demo["advisor"])
    bill(clock)
    first_sight = clock()
    assert last_seen(demo["user"], "idle-0020") == first_sight
    assert session_item("idle-0020").billed_minutes == 10
    clock.advance(seconds=IDLE_S)
    _, view, _ = api.poll(demo["advisor"], "idle-0020")
    assert (view["end_reason"], view["ended_at"]) == ("idle", iso_ms(first_sight + IDLE_MS))
    assert view["billed_minutes"] == 12


def test_a_session_never_recorded_is_recorded_by_its_users_next_poll(api, demo, clock):
    _unrecorded_session_polled(api, demo, clock, "idle-0021", demo["user"])
    assert last_seen(demo["user"], "idle-0021") == clock()


def test_the_account_item_keeps_one_last_seen_per_active_session(api, demo, clock):
    for number in range(3):
        session_id = f"idle-01{number:02d}"
        api.start(demo["user"], demo["advisor"], session_id=session_id)
        clock.advance(seconds=10)
        api.end(demo["user"], session_id)
    names = [name for name in account_item(demo["user"]).attribute_values if name.startswith(LAST_SEEN_PREFIX)]
    raw = raw_client().get_item(TableName=current().accounts_table, Key={"user_id": {"S": demo["user"]}})["Item"]
    assert names == [] and not [name for name in raw if name.startswith(LAST_SEEN_PREFIX)]


def test_presence_reads_the_limit_from_the_settings(store, monkeypatch):
    assert Presence(IDLE_MS) == Presence(store.settings.session_idle_ms)
