"""POST /sessions: every answer of the contract's table, and what each one leaves in the tables."""

from chalicelib.domain.instants import iso_ms
from harness.dynamo import active_sessions_of, add_user, all_sessions, balance_of, session_item


def test_created_session_holds_its_start_in_the_creating_write(api, demo, clock):
    status, view, headers = api.start(demo["user"], demo["advisor"], session_id="page-0001")

    assert status == 201
    assert headers["Location"] == "/sessions/page-0001"
    assert view["started_at"] == iso_ms(clock.now_ms)
    assert view["status"] == "active"
    assert view["elapsed_seconds"] == 0
    assert view["rate_per_minute"] == 199
    assert view["balance"] == 10_000
    assert view["seconds_remaining"] == (10_000 // 199) * 60
    assert view["timer"] == {"state": "running", "initialized": "at_creation"}
    item = session_item("page-0001")
    assert item.started_at_ms == clock.now_ms
    assert item.started_at == view["started_at"]
    assert item.schema_version == 2
    assert item.status == "active"
    assert item.active_shard is not None
    assert active_sessions_of(demo["user"]) == {"page-0001"}


def test_server_makes_a_session_id_when_the_page_sends_none(api, demo):
    status, view, headers = api.start(demo["user"], demo["advisor"])
    assert status == 201
    assert headers["Location"] == f"/sessions/{view['session_id']}"
    assert session_item(view["session_id"]).user_id == demo["user"]


def test_repeated_session_id_returns_the_same_session_with_its_timer_untouched(api, demo, clock):
    _, first, _ = api.start(demo["user"], demo["advisor"], session_id="page-0002")
    clock.advance(seconds=20)

    status, again, _ = api.start(demo["user"], "someone-else-entirely", session_id="page-0002")

    assert status == 200
    assert again["started_at"] == first["started_at"]
    assert again["elapsed_seconds"] == 20
    assert session_item("page-0002").started_at_ms == clock.now_ms - 20_000
    assert len(all_sessions()) == 1


def test_repeated_session_id_after_the_end_still_returns_it(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="page-0003")
    clock.advance(seconds=61)
    api.end(demo["user"], "page-0003")

    status, view, _ = api.start(demo["user"], demo["advisor"], session_id="page-0003")

    assert status == 200
    assert view["status"] == "ended"
    assert view["billed_minutes"] == 2


def test_session_id_of_another_user_is_a_conflict(api, demo):
    api.start(demo["user"], demo["advisor"], session_id="page-0004")
    status, body, _ = api.start(demo["other"], demo["advisor"], session_id="page-0004")
    assert status == 409
    assert body["error"] == "session_id_taken"
    assert session_item("page-0004").user_id == demo["user"]


def test_second_active_session_is_refused_and_named(api, demo):
    api.start(demo["user"], demo["advisor"], session_id="page-0005")
    status, body, _ = api.start(demo["user"], demo["advisor"], session_id="page-0006")
    assert status == 409
    assert body["error"] == "active_session_exists"
    assert body["active_session_id"] == "page-0005"
    assert len(all_sessions()) == 1


def test_balance_below_one_minute_is_payment_required(api, demo):
    add_user("u-poor", 198)
    status, body, _ = api.start("u-poor", demo["advisor"], session_id="page-0007")
    assert status == 402
    assert body["error"] == "insufficient_credit"
    assert all_sessions() == []
    assert balance_of("u-poor") == 198


def test_exactly_one_minute_of_balance_is_enough(api, demo):
    add_user("u-exact", 199)
    status, view, _ = api.start("u-exact", demo["advisor"])
    assert status == 201
    assert view["seconds_remaining"] == 60


def test_user_without_account_has_balance_zero(api, demo):
    status, body, _ = api.start("u-nobody", demo["advisor"])
    assert status == 402
    assert all_sessions() == []


def test_unknown_advisor_is_not_found(api, demo):
    status, body, _ = api.start(demo["user"], "a-nobody")
    assert status == 404
    assert body["error"] == "advisor_not_found"
    assert all_sessions() == []


def test_a_new_session_can_start_once_the_previous_one_ended(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="page-0008")
    clock.advance(seconds=5)
    api.end(demo["user"], "page-0008")
    status, _, _ = api.start(demo["user"], demo["advisor"], session_id="page-0009")
    assert status == 201
    assert active_sessions_of(demo["user"]) == {"page-0009"}


def test_the_timer_starts_at_the_first_clock_reading_of_the_request(api, demo, clock, monkeypatch):
    """The start's instant is read when our code first sees the request (the first HTTP
    middleware), before logging, identity and the body: each later reading is 1 ms later,
    and the identity check is made to read the clock too, so a start read after it fails."""
    from chalicelib.api import dependencies, sessions

    readings = []

    def stepping():
        readings.append(clock.advance(ms=1))
        return readings[-1]

    monkeypatch.setattr(dependencies, "clock", stepping)
    real_caller_id = sessions.caller_id

    def caller_id_reading_the_clock(request):
        stepping()
        return real_caller_id(request)

    monkeypatch.setattr(sessions, "caller_id", caller_id_reading_the_clock)
    status, view, _ = api.start(demo["user"], demo["advisor"], session_id="page-0003")

    assert status == 201
    assert len(readings) >= 3  # the middleware's, the identity's, the answer's server_time
    assert session_item("page-0003").started_at_ms == readings[0]
    assert view["started_at"] == iso_ms(readings[0])
