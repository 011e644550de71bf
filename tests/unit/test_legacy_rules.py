"""Schema-1 rules without AWS: which records an upgrade refuses, the schema-1 end time, the
believable start, and the backfill's state file."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.legacy import rules as legacy
from chalicelib.legacy.checkpoint import KEPT_SKIPPED_IDS, Checkpoint, StateMismatch, Tally
from chalicelib.store.models import SessionItem
from chalicelib.store.records import from_raw, to_session
from harness.clock import MINUTE_MS, START_MS
from harness.factories import make_session

BASE = {
    "session_id": {"S": "old-0001"},
    "user_id": {"S": "user-1"},
    "advisor_id": {"S": "advisor-1"},
    "status": {"S": "active"},
    "rate_per_minute": {"N": "150"},
    "created_at": {"N": f"{START_MS // 1000}.5"},  # epoch seconds, as schema 1 wrote them
}


def read(**changes):
    raw = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return to_session(from_raw(SessionItem, raw))


def test_a_schema1_end_time_in_epoch_seconds_is_read_as_the_end():
    session = read(status={"S": "ended"}, ended_at={"N": f"{START_MS // 1000 + 95}.2505"})
    assert session.ended_at_ms == START_MS + 95_251  # half a millisecond rounds up
    assert session.started_at_ms == START_MS + 500


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"rate_per_minute": None}, "no rate_per_minute"),
        ({"user_id": None}, "no user_id"),
        ({"status": {"S": "open"}}, "unknown status 'open'"),
        ({"created_at": None}, "neither timer_start nor created_at"),
        ({"charged": {"N": "4.5"}}, "charged is not a whole number >= 0"),
        ({"billed_minutes": {"N": "-1"}}, "billed_minutes is not a whole number >= 0"),
        ({"timer_start": {"S": "soon"}}, "timer_start is not of DynamoDB type N"),
    ],
)
def test_records_an_upgrade_would_have_to_guess_about_are_refused(changes, problem):
    with pytest.raises(LegacyRecordUnusable) as refused:
        read(**changes)
    assert refused.value.problem == problem
    assert refused.value.session_id == "old-0001"
    parties = {**BASE, **changes}
    assert refused.value.parties == tuple(parties[k]["S"] for k in ("user_id", "advisor_id") if parties[k])


@settings(max_examples=50, deadline=None)
@given(offset_ms=st.integers(-10 * 365 * 24 * 60 * MINUTE_MS, 2 * 60 * MINUTE_MS))
def test_a_start_is_believed_from_2001_until_an_hour_ahead_of_our_clock(offset_ms):
    session = make_session(started_at_ms=START_MS + offset_ms)
    problem = legacy.start_problem(session, START_MS)
    believable = legacy.EARLIEST_START_MS <= START_MS + offset_ms <= START_MS + legacy.FUTURE_TOLERANCE_MS
    assert (problem is None) == believable


def test_a_start_in_seconds_of_1970_or_in_milliseconds_is_not_believed():
    assert legacy.start_problem(make_session(started_at_ms=0), START_MS).startswith("start before 2001")
    as_if_ms_were_seconds = make_session(started_at_ms=START_MS * 1000)
    assert legacy.start_problem(as_if_ms_were_seconds, START_MS) == "start more than an hour in the future"


# --- the backfill's state file ---


def test_a_checkpoint_resumes_each_segment_where_its_last_page_ended(tmp_path):
    path = tmp_path / "state.json"
    first = Checkpoint.open(path, "sessions", 3, dry_run=False)
    first.page_done(0, Tally(scanned=5, legacy=2, upgraded=2), {"session_id": {"S": "k0"}})
    first.page_done(1, Tally(scanned=1), None)
    first.page_cut_short(Tally(upgraded=1))

    again = Checkpoint.open(path, "sessions", 8, dry_run=False)

    assert again.total_segments == 3  # a resumed run keeps its segments
    assert again.pending() == {0: {"session_id": {"S": "k0"}}, 2: None}
    assert (again.totals.scanned, again.totals.upgraded) == (6, 3)
    assert again.resumed


def test_a_completed_run_is_not_resumed_but_a_new_one_begins(tmp_path):
    path = tmp_path / "state.json"
    done = Checkpoint.open(path, "sessions", 1, dry_run=False)
    done.page_done(0, Tally(scanned=4, legacy=1, upgraded=1), None)
    done.finish()
    assert json.loads(path.read_text())["complete"]

    fresh = Checkpoint.open(path, "sessions", 2, dry_run=False)

    assert fresh.pending() == {0: None, 1: None}
    assert fresh.totals.scanned == 0 and not fresh.resumed


@pytest.mark.parametrize("table, dry_run", [("other-table", False), ("sessions", True)])
def test_an_unfinished_run_of_another_table_or_mode_is_never_resumed(tmp_path, table, dry_run):
    path = tmp_path / "state.json"
    Checkpoint.open(path, "sessions", 2, dry_run=False)
    with pytest.raises(StateMismatch):
        Checkpoint.open(path, table, 2, dry_run=dry_run)
    assert Checkpoint.open(path, table, 2, dry_run=dry_run, restart=True).pending() == {0: None, 1: None}


def test_a_tally_keeps_every_reason_but_a_bounded_list_of_ids():
    total = Tally()
    for n in range(KEPT_SKIPPED_IDS + 10):
        page = Tally(scanned=1, legacy=1)
        page.skip(f"old-{n}", "no rate_per_minute")
        total.add(page)
    assert total.skipped == KEPT_SKIPPED_IDS + 10
    assert len(total.skipped_ids) == KEPT_SKIPPED_IDS
    assert total.already_current == 0
    assert Tally.from_dict(json.loads(json.dumps(total.as_dict()))) == total
