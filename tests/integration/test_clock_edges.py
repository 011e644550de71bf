"""Clock edge cases through the API: a read exactly on a minute boundary, a backend clock a few
milliseconds behind the one that wrote `started_at`, an ended session polled for hours, and
sessions long enough that floats would start to round."""

import pytest

from chalicelib.services.billing import run_billing
from harness.billing import books_problems
from harness.clock import MINUTE_MS
from harness.dynamo import add_user, balance_of, ledger_of, session_item

SID = "clock-edge-0001"


@pytest.fixture
def bill(store, clock):
    """One billing run at the fake clock's time, on one worker (in-process moto is not safe
    under concurrent writers)."""

    def run():
        return run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=10_000, workers=1)

    return run


def start(api, demo, user=None, sid=SID):
    status, view, _ = api.start(user or demo["user"], demo["advisor"], session_id=sid)
    assert status == 201
    return view


def without_server_time(view: dict) -> dict:
    return {name: value for name, value in view.items() if name != "server_time"}


# ---- exactly on a minute boundary ----------------------------------------------------------


def test_a_read_and_a_billing_run_exactly_on_the_minute_see_one_minute(api, demo, clock, bill):
    start(api, demo)
    cap_s = (demo["balance"] // demo["rate"]) * 60
    clock.advance(ms=MINUTE_MS)
    polled = api.poll(demo["user"], SID)[1]
    assert polled["elapsed_seconds"] == 60.0 and polled["seconds_remaining"] == cap_s - 60

    assert bill().minutes_charged == 1  # 60.000 s owes one started minute, not two
    after = api.poll(demo["user"], SID)[1]
    assert after["billed_minutes"] == 1 and after["charged"] == demo["rate"]
    # Billing moves units from the balance into billed minutes: the display does not move.
    assert (after["elapsed_seconds"], after["seconds_remaining"]) == (60.0, cap_s - 60)

    clock.advance(ms=1)
    assert bill().minutes_charged == 1  # 60.001 s: the second minute has started
    assert api.poll(demo["user"], SID)[1]["billed_minutes"] == 2


@pytest.mark.parametrize("end_after_ms, minutes", [(MINUTE_MS - 1, 1), (MINUTE_MS, 1), (MINUTE_MS + 1, 2)])
def test_an_end_around_the_minute_charges_started_minutes(api, demo, clock, end_after_ms, minutes):
    start(api, demo)
    clock.advance(ms=end_after_ms)
    view = api.end(demo["user"], SID)[1]
    assert view["elapsed_seconds"] == end_after_ms / 1000
    assert (view["billed_minutes"], view["charged"]) == (minutes, minutes * demo["rate"])


@pytest.mark.parametrize(
    "at_ms, running, remaining, end_reason",
    [
        (2 * MINUTE_MS - 1, "running", 0.001, "user"),
        (2 * MINUTE_MS, "stopped", 0.0, "user"),
        (2 * MINUTE_MS + 1, "stopped", 0.0, "credits_exhausted"),
    ],
)
def test_the_credit_cap_on_a_minute_boundary(api, demo, clock, at_ms, running, remaining, end_reason):
    """Two minutes of credit: the display stops at exactly 120 s, and an end just after it is
    an exhaustion ended at the cap, not a third minute."""
    add_user("u-two-minutes", 2 * demo["rate"])
    start(api, demo, user="u-two-minutes")
    clock.advance(ms=at_ms)
    polled = api.poll("u-two-minutes", SID)[1]
    assert polled["timer"]["state"] == running
    assert polled["elapsed_seconds"] == min(at_ms, 2 * MINUTE_MS) / 1000 and polled["seconds_remaining"] == remaining
    ended = api.end("u-two-minutes", SID)[1]
    assert ended["end_reason"] == end_reason and ended["charged"] == 2 * demo["rate"]
    assert ended["elapsed_seconds"] == polled["elapsed_seconds"]
    assert balance_of("u-two-minutes") == 0


# ---- a backend clock behind the writer's ---------------------------------------------------


@pytest.mark.parametrize("behind_ms", [1, 3, 40])
def test_a_backend_clock_behind_the_writer_never_shows_negative_time(api, demo, clock, bill, behind_ms):
    started = start(api, demo)
    cap_s = (demo["balance"] // demo["rate"]) * 60
    clock.advance(ms=-behind_ms)  # another Lambda's clock, a little behind

    polled = api.poll(demo["user"], SID)[1]
    assert polled["elapsed_seconds"] == 0 and polled["seconds_remaining"] == cap_s
    assert api.start(demo["user"], demo["advisor"], session_id=SID)[1]["elapsed_seconds"] == 0
    assert bill().minutes_charged == 0

    ended = api.end(demo["user"], SID)[1]
    # The end cannot come before the start: it is the start, and 0 s owes nothing.
    assert ended["ended_at"] == started["started_at"] and ended["elapsed_seconds"] == 0
    assert ended["charged"] == 0 and ledger_of(SID) == []
    assert balance_of(demo["user"]) == demo["balance"]


# ---- an ended session, polled for hours ----------------------------------------------------


def test_an_ended_session_stays_frozen_however_long_it_is_polled(api, demo, clock, bill):
    start(api, demo)
    clock.advance(seconds=90.5)
    ended = api.end(demo["user"], SID)[1]
    assert ended["timer"]["state"] == "stopped" and ended["seconds_remaining"] is None
    for hours in (1, 6, 48, 24 * 90):
        clock.now_ms = session_item(SID).ended_at_ms + hours * 3_600_000
        assert bill().minutes_charged == 0
        for caller in (demo["user"], demo["advisor"]):
            status, view, _ = api.poll(caller, SID)
            assert status == 200
            expected = without_server_time(ended)
            if caller != demo["user"]:
                expected.pop("balance")
            assert without_server_time(view) == expected, hours
    assert balance_of(demo["user"]) == demo["balance"] - 2 * demo["rate"]


# ---- very long sessions --------------------------------------------------------------------


def test_a_hundred_day_session_keeps_every_number_exact(api, demo, clock):
    rich = "u-rich"
    add_user(rich, 10**12)
    start(api, demo, user=rich)
    clock.advance(ms=100 * 86_400_000 + 1)  # 100 days and a millisecond

    polled = api.poll(rich, SID)[1]
    cap_ms = (10**12 // demo["rate"]) * MINUTE_MS
    assert polled["elapsed_seconds"] == 8_640_000.001
    assert round(polled["seconds_remaining"] * 1000) == cap_ms - 8_640_000_001

    ended = api.end(rich, SID)[1]
    minutes = 144_001  # 8 640 000.001 s is into its 144 001st minute
    assert (ended["billed_minutes"], ended["charged"]) == (minutes, minutes * demo["rate"])
    assert ended["balance"] == 10**12 - minutes * demo["rate"] == balance_of(rich)
    assert [int(item.amount) for item in ledger_of(SID)] == [minutes * demo["rate"]]


def test_a_long_session_billed_in_many_runs_adds_up_to_the_minute(api, demo, clock, bill):
    """Two days of irregular billing runs, each charging what is owed by then: the ledger,
    `charged` and the balance agree to the unit, with no minute lost or doubled."""
    rich = "u-steady"
    add_user(rich, 10**9)
    start(api, demo, user=rich)
    started_ms = clock.now_ms
    for step in range(48):
        clock.advance(seconds=3_600, ms=(step * 7_919) % 60_000)  # off the minute by varying ms
        bill()
    clock.advance(ms=1)
    ended = api.end(rich, SID)[1]
    minutes = -(-(clock.now_ms - started_ms) // MINUTE_MS)
    assert ended["billed_minutes"] == minutes and ended["charged"] == minutes * demo["rate"]
    ledger = sorted(ledger_of(SID), key=lambda item: int(item.first_minute))
    assert len(ledger) >= 48
    # Each charge starts where the previous one stopped: minutes 1..N, none twice, none skipped.
    next_minute = 1
    for item in ledger:
        assert int(item.first_minute) == next_minute
        next_minute += int(item.minutes)
    assert next_minute - 1 == minutes
    assert sum(int(item.amount) for item in ledger) == ended["charged"] == 10**9 - balance_of(rich)
    assert books_problems({rich: 10**9, demo["user"]: demo["balance"], demo["other"]: demo["balance"]}, clock()) == []
