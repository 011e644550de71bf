"""Billing under overload (issue 11, defect 6): a run with time for only half of the active
sessions leaves some for the next one, but never the same ones two minutes in a row.
Before, every run read the shards in the same order and direction, so the sessions at the
end of the index were left over minute after minute and never billed."""

import pytest

from chalicelib.domain.validation import StartRequest
from chalicelib.services.billing import run_billing
from chalicelib.services.start import start_session
from harness.clock import MINUTE_MS
from harness.dynamo import add_advisor, add_user, session_item

SESSIONS = 16
CAPACITY = SESSIONS // 2  # what one run has time for: half of the work, the guarantee's least


@pytest.fixture
def four_shards(monkeypatch):
    monkeypatch.setenv("ACTIVE_SHARDS", "4")  # several sessions a shard: directions matter


@pytest.fixture
def active(four_shards, dynamo, store, clock):
    """SESSIONS sessions started 1 to 49 s apart in the last minute, each owing its first."""
    add_advisor("stv-adv", 100)
    now = clock()
    for i in range(SESSIONS):
        add_user(f"stv-u{i:02d}", 100_000)
        clock.now_ms = now - 1_000 - i * 3_271
        start_session(store, clock, f"stv-u{i:02d}", StartRequest(advisor_id="stv-adv", session_id=f"stv-s{i:02d}"))
    clock.now_ms = now
    return [f"stv-s{i:02d}" for i in range(SESSIONS)]


def overloaded_run(store, clock, monkeypatch, capacity):
    """A run whose remaining time runs out once it has taken `capacity` sessions."""
    taken = []
    read = store.active_sessions

    def counted(shard, forward=True):
        for session in read(shard, forward=forward):
            taken.append(session.session_id)
            yield session

    with monkeypatch.context() as patch:
        patch.setattr(store, "active_sessions", counted)
        report = run_billing(
            store,
            clock,
            remaining_ms=lambda: 60_000 if len(taken) <= capacity else 0,
            safety_margin_ms=10_000,
            workers=1,
        )
    return report


@pytest.mark.parametrize("parity", [0, 1], ids=["from-an-even-minute", "from-an-odd-minute"])
def test_two_overloaded_runs_in_a_row_bill_every_active_session(active, store, clock, monkeypatch, parity):
    if clock() // MINUTE_MS % 2 != parity:
        clock.advance(ms=MINUTE_MS)
    runs = []
    for _ in range(2):
        runs.append(overloaded_run(store, clock, monkeypatch, CAPACITY))
        clock.advance(ms=MINUTE_MS)

    for report in runs:
        # The deadline came in the middle: the session in hand is left, nothing more is read.
        assert (report.sessions_charged, report.left_over, report.sessions_seen) == (CAPACITY, 1, CAPACITY + 1)
        assert report.shards_cut_short >= 1
    never_billed = [sid for sid in active if session_item(sid).billed_minutes == 0]
    assert never_billed == []
