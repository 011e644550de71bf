"""Stored items (schema 1 and 2) to the domain's Session, in memory: no table, no AWS call."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.instants import day_of, iso_ms
from chalicelib.domain.session import (
    ACTIVE,
    AT_CREATION,
    CURRENT_SCHEMA,
    ENDED,
    LEGACY_CREATED_AT,
    LEGACY_TIMER_START,
)
from chalicelib.store.models import SessionItem
from chalicelib.store.records import new_session_item, shard_of, to_session
from harness.clock import MINUTE_MS, START_MS
from harness.factories import make_session

PROJECT = Path(__file__).resolve().parents[2]

SCHEMA1_BASE = {
    "session_id": {"S": "0b8f6c1e-legacy"},
    "user_id": {"S": "user-1"},
    "advisor_id": {"S": "advisor-1"},
    "status": {"S": "active"},
    "rate_per_minute": {"N": "150"},
}


def schema1(**numbers):
    """A schema-1 item exactly as DynamoDB returns it (numbers travel as strings)."""
    raw = dict(SCHEMA1_BASE)
    for name, value in numbers.items():
        raw[name] = {"N": str(value)}
    return SessionItem.from_raw_data(raw)


# --- schema 1 ---


def test_schema1_with_timer_start_starts_at_the_timer():
    item = schema1(created_at="1700000000.25", timer_start="1700000015.5")
    session = to_session(item)
    assert session.started_at_ms == 1_700_000_015_500
    assert session.timer_init == LEGACY_TIMER_START
    assert session.schema_version == 1
    assert session.is_legacy_unupgraded
    assert session.legacy_created_at_ms == 1_700_000_000_250


def test_schema1_without_timer_start_starts_at_creation():
    item = schema1(created_at="1700000000.1234")
    session = to_session(item)
    assert session.started_at_ms == 1_700_000_000_123
    assert session.timer_init == LEGACY_CREATED_AT
    assert session.schema_version == 1


def test_schema1_with_whole_second_timestamps():
    session = to_session(schema1(created_at="1700000000", timer_start="1700000042"))
    assert session.started_at_ms == 1_700_000_042_000


def test_schema1_missing_billing_fields_are_zero():
    session = to_session(schema1(created_at="1700000000"))
    assert session.billed_minutes == 0
    assert session.charged == 0
    assert session.legacy_charged == 0
    assert session.ended_at_ms is None
    assert session.end_reason is None


def test_schema1_charges_are_carried_as_legacy():
    session = to_session(schema1(created_at="1700000000", timer_start="1700000010", billed_minutes="3", charged="450"))
    assert session.billed_minutes == 3
    assert session.charged == 450
    assert session.legacy_charged == 450
    assert session.rate_per_minute == 150
    assert (session.session_id, session.user_id, session.advisor_id) == ("0b8f6c1e-legacy", "user-1", "advisor-1")


def test_schema1_ended_without_end_time():
    raw = dict(
        SCHEMA1_BASE,
        status={"S": "ended"},
        created_at={"N": "1700000000"},
        timer_start={"N": "1700000001"},
        billed_minutes={"N": "7"},
        charged={"N": "1050"},
    )
    session = to_session(SessionItem.from_raw_data(raw))
    assert session.status == ENDED
    assert session.ended_at_ms is None
    assert session.billed_minutes == 7


def test_schema1_item_built_in_memory_with_python_numbers():
    item = SessionItem(
        session_id="legacy-0001",
        user_id="user-1",
        advisor_id="advisor-1",
        status=ACTIVE,
        rate_per_minute=100,
        created_at=Decimal("1700000000.1234"),
        timer_start=1700000003.25,
        billed_minutes=2,
    )
    session = to_session(item)
    assert session.started_at_ms == 1_700_000_003_250
    assert session.timer_init == LEGACY_TIMER_START
    assert session.billed_minutes == 2
    assert session.charged == 0
    assert session.legacy_created_at_ms == 1_700_000_000_123


@settings(max_examples=100, deadline=None)
@given(
    created_ms=st.integers(1_000_000_000_000, 2_000_000_000_000),
    delay_ms=st.one_of(st.none(), st.integers(0, 10 * MINUTE_MS)),
)
def test_schema1_start_rule_over_serialized_items(created_ms, delay_ms):
    fields = {"created_at": f"{created_ms // 1000}.{created_ms % 1000:03d}"}
    if delay_ms is not None:
        start = created_ms + delay_ms
        fields["timer_start"] = f"{start // 1000}.{start % 1000:03d}"
    session = to_session(schema1(**fields))
    if delay_ms is None:
        assert (session.started_at_ms, session.timer_init) == (created_ms, LEGACY_CREATED_AT)
    else:
        assert (session.started_at_ms, session.timer_init) == (created_ms + delay_ms, LEGACY_TIMER_START)


# --- schema 2 ---


def test_new_session_item_holds_the_timer_start_and_its_twins():
    session = make_session(session_id="sess_new_0001", started_at_ms=START_MS)
    item = new_session_item(session, 16)
    raw = item.serialize()
    assert raw["started_at_ms"] == {"N": str(START_MS)}
    assert raw["started_at"] == {"S": iso_ms(START_MS)}
    assert raw["started_at"]["S"].endswith("Z")
    assert raw["started_day"] == {"S": day_of(START_MS)}
    assert raw["schema_version"] == {"N": str(CURRENT_SCHEMA)}
    assert raw["status"] == {"S": "active"}
    assert raw["billed_minutes"] == {"N": "0"}
    assert raw["charged"] == {"N": "0"}
    assert 0 <= int(raw["active_shard"]["N"]) < 16
    # A new session is not ended and has nothing of the previous release.
    for absent in ("ended_at_ms", "ended_at", "end_reason", "created_at", "timer_start"):
        assert absent not in raw


@settings(max_examples=100, deadline=None)
@given(
    session_id=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=8, max_size=64
    ),
    started=st.integers(0, 4_102_444_800_000),
    rate=st.integers(0, 100_000),
    shards=st.integers(1, 64),
)
def test_schema2_round_trip_through_dynamodb_json(session_id, started, rate, shards):
    session = make_session(session_id=session_id, started_at_ms=started, rate_per_minute=rate)
    item = new_session_item(session, shards)
    # Through the wire format and back, as a later GetItem would return it.
    raw = json.loads(json.dumps(item.serialize()))
    # The by-day index partition is the UTC date of the start, i.e. of its ISO twin.
    assert raw["started_day"]["S"] == raw["started_at"]["S"][:10]
    assert 0 <= int(raw["active_shard"]["N"]) < shards
    back = to_session(SessionItem.from_raw_data(raw))
    assert back == session
    assert back.timer_init == AT_CREATION
    assert back.schema_version == CURRENT_SCHEMA
    assert not back.is_legacy_unupgraded
    assert type(back.started_at_ms) is int and type(back.rate_per_minute) is int


def test_schema2_item_with_end_and_legacy_fields_reads_back():
    session = make_session()
    item = new_session_item(session, 16)
    item.status = ENDED
    item.ended_at_ms = START_MS + 5 * MINUTE_MS
    item.end_reason = "user"
    item.billed_minutes = 5
    item.charged = 5 * 199 + 300
    item.legacy_charged = 300
    item.timer_init = LEGACY_TIMER_START
    back = to_session(SessionItem.from_raw_data(item.serialize()))
    assert back.status == ENDED
    assert back.ended_at_ms == START_MS + 5 * MINUTE_MS
    assert back.end_reason == "user"
    assert back.billed_minutes == 5
    assert back.charged == 5 * 199 + 300
    assert back.legacy_charged == 300
    assert back.timer_init == LEGACY_TIMER_START
    assert back.started_at_ms == START_MS


@pytest.mark.parametrize(
    "started, day",
    [
        (1_795_824_000_000, "2026-11-28"),  # midnight UTC exactly
        (1_795_823_999_999, "2026-11-27"),  # the last ms of the day before
    ],
)
def test_started_day_at_midnight(started, day):
    raw = new_session_item(make_session(started_at_ms=started), 16).serialize()
    assert raw["started_day"] == {"S": day}


# --- shards ---


@settings(max_examples=200, deadline=None)
@given(session_id=st.text(min_size=1, max_size=64), shards=st.integers(1, 256))
def test_shard_of_is_in_range_and_repeatable(session_id, shards):
    shard = shard_of(session_id, shards)
    assert type(shard) is int
    assert 0 <= shard < shards
    assert shard_of(session_id, shards) == shard


def test_shard_of_spreads_sessions_over_every_shard():
    shards = {shard_of(f"sess_{n:08d}", 16) for n in range(2_000)}
    assert shards == set(range(16))


def test_shard_of_is_stable_across_processes():
    # Python's hash() of a str changes with PYTHONHASHSEED; a session must keep its shard.
    ids = [f"sess_{n:08d}" for n in range(50)] + ["0b8f6c1e-legacy", "a" * 64]
    here = [shard_of(sid, 16) for sid in ids]
    code = (
        "import json, sys; from chalicelib.store.records import shard_of; "
        "print(json.dumps([shard_of(s, 16) for s in json.loads(sys.argv[1])]))"
    )
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(ids)],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here
