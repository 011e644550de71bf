"""POST /sessions/{id}/end: final charge, ledger, marker, repeats, the advisor, exhaustion."""

from harness.dynamo import active_sessions_of, add_user, balance_of, ledger_of, session_item


def test_end_charges_every_started_minute_once(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="end-00001")
    clock.advance(ms=120_001)

    status, view, _ = api.end(demo["user"], "end-00001")

    assert status == 200
    assert view["status"] == "ended"
    assert view["end_reason"] == "user"
    assert view["billed_minutes"] == 3
    assert view["charged"] == 3 * 199
    assert view["elapsed_seconds"] == 120.001
    assert view["balance"] == 10_000 - 3 * 199
    assert view["timer"]["state"] == "stopped"
    assert balance_of(demo["user"]) == 10_000 - 3 * 199
    [entry] = ledger_of("end-00001")
    assert (entry.first_minute, entry.minutes, entry.amount, entry.user_id) == (1, 3, 597, demo["user"])
    assert active_sessions_of(demo["user"]) == set()
    assert session_item("end-00001").active_shard is None


def test_repeating_end_returns_the_same_ended_view_and_charges_nothing(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="end-00002")
    clock.advance(seconds=30)
    _, first, _ = api.end(demo["user"], "end-00002")
    clock.advance(seconds=3600)

    status, again, _ = api.end(demo["user"], "end-00002")

    assert status == 200
    for field in ("ended_at", "elapsed_seconds", "billed_minutes", "charged", "balance", "end_reason"):
        assert again[field] == first[field]
    assert balance_of(demo["user"]) == 10_000 - 199
    assert len(ledger_of("end-00002")) == 1


def test_the_advisor_may_end_the_session(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="end-00003")
    clock.advance(seconds=10)
    status, view, _ = api.end(demo["advisor"], "end-00003")
    assert status == 200
    assert view["end_reason"] == "advisor"
    assert "balance" not in view
    assert balance_of(demo["user"]) == 10_000 - 199


def test_someone_else_cannot_end_it(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="end-00004")
    status, body, _ = api.end(demo["other"], "end-00004")
    assert status == 404
    assert session_item("end-00004").status == "active"


def test_end_after_the_credits_ran_out_ends_at_the_cap(api, demo, clock):
    add_user("u-short", 450)  # two minutes at 199
    _, started, _ = api.start("u-short", demo["advisor"], session_id="end-00005")
    clock.advance(seconds=500)

    _, view, _ = api.end("u-short", "end-00005")

    assert view["end_reason"] == "credits_exhausted"
    assert view["elapsed_seconds"] == 120
    assert view["billed_minutes"] == 2
    assert view["balance"] == 450 - 2 * 199
    assert balance_of("u-short") == 52


def test_end_at_zero_seconds_charges_nothing(api, demo):
    api.start(demo["user"], demo["advisor"], session_id="end-00006")
    _, view, _ = api.end(demo["user"], "end-00006")
    assert view["billed_minutes"] == 0
    assert view["charged"] == 0
    assert ledger_of("end-00006") == []
    assert balance_of(demo["user"]) == 10_000


def test_elapsed_never_decreases_from_poll_to_end_to_poll(api, demo, clock):
    api.start(demo["user"], demo["advisor"], session_id="end-00007")
    seen = []
    for step in (14_999, 1, 44_000):
        clock.advance(ms=step)
        seen.append(api.poll(demo["user"], "end-00007")[1]["elapsed_seconds"])
    seen.append(api.end(demo["user"], "end-00007")[1]["elapsed_seconds"])
    clock.advance(seconds=100)
    seen.append(api.poll(demo["user"], "end-00007")[1]["elapsed_seconds"])
    assert seen == sorted(seen)
    assert seen[-1] == seen[-2] == 59
