"""GET /sessions/{id}: server-computed elapsed time, the credit cap, who may see what."""

from harness.dynamo import add_user


def test_poll_reports_elapsed_from_the_creating_write(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="poll-0001")
    clock.advance(ms=15_042)

    status, view, _ = api.poll(demo["user"], "poll-0001")

    assert status == 200
    assert view["elapsed_seconds"] == 15.042
    assert view["server_time"] > view["started_at"]
    assert view["balance"] == 10_000


def test_seed_scenario_polls_at_15_and_30_seconds_never_go_back(api, demo, clock):
    """The seed's bug: the page showed 30 s and the backend answered 15 s. Page and backend
    now share one start, so at each poll they agree to the millisecond here."""
    page_loaded_at = clock.now_ms
    _, view, _ = api.start(demo["user"], demo["advisor"], session_id="seed-0001")
    shown = []
    for poll_at in (15, 30):
        clock.now_ms = page_loaded_at + poll_at * 1000
        _, view, _ = api.poll(demo["user"], "seed-0001")
        page_seconds = (clock.now_ms - page_loaded_at) / 1000
        assert abs(view["elapsed_seconds"] - page_seconds) < 0.05
        shown.append(view["elapsed_seconds"])
    assert shown == sorted(shown) and shown[-1] == 30


def test_the_advisor_sees_the_session_without_the_users_balance(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="poll-0002")
    clock.advance(seconds=3)
    status, view, _ = api.poll(demo["advisor"], "poll-0002")
    assert status == 200
    assert "balance" not in view
    assert view["elapsed_seconds"] == 3
    assert view["seconds_remaining"] == (10_000 // 199) * 60 - 3


def test_anyone_else_gets_not_found(api, demo):
    api.start(demo["user"], demo["advisor"], session_id="poll-0003")
    status, body, _ = api.poll(demo["other"], "poll-0003")
    assert status == 404
    assert body["error"] == "session_not_found"


def test_unknown_session_is_not_found(api, demo):
    status, body, _ = api.poll(demo["user"], "no-such-session")
    assert status == 404


def test_elapsed_freezes_at_the_credit_cap(api, demo, clock):
    add_user("u-short", 450)  # two minutes at 199
    api.start("u-short", demo["advisor"], session_id="poll-0004")
    clock.advance(seconds=119)
    _, before, _ = api.poll("u-short", "poll-0004")
    clock.advance(seconds=200)
    _, after, _ = api.poll("u-short", "poll-0004")

    assert before["elapsed_seconds"] == 119
    assert before["seconds_remaining"] == 1
    assert after["elapsed_seconds"] == 120
    assert after["seconds_remaining"] == 0
    assert after["timer"]["state"] == "stopped"


def test_elapsed_is_never_negative_when_this_clock_is_behind_the_writer(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="poll-0005")
    clock.advance(ms=-7)
    _, view, _ = api.poll(demo["user"], "poll-0005")
    assert view["elapsed_seconds"] == 0
