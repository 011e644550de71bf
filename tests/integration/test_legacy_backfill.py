"""`make backfill` on moto: dry run, upgrade, idempotence, resuming, its summary and log."""

import json
import re
import threading

import pytest

from chalicelib.clock import system_clock
from chalicelib.domain.instants import iso_ms
from chalicelib.legacy import backfill
from harness.dynamo import active_sessions_of, add_advisor, add_user, session_item
from harness.faults import failing_call
from harness.legacy import RATE, BackfillRun, legacy_records, put_legacy, raw_item, raw_items, schema1_item, seconds

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
NEW_SESSIONS = 3


@pytest.fixture
def table(dynamo, clock, api):
    """Every kind of schema-1 record, and a few sessions started by this release."""
    records = legacy_records(clock())
    for record in records.values():
        add_user(record.user_id, 10_000)
    put_legacy(records.values())
    add_advisor("a-new", RATE)
    for n in range(NEW_SESSIONS):
        add_user(f"u-new-{n}", 10_000)
        assert api.start(f"u-new-{n}", "a-new", session_id=f"new-session-{n}")[0] == 201
    return records


def test_a_dry_run_says_what_it_would_change_and_writes_nothing(table, tmp_path, clock, dynamo_calls):
    before = raw_items()
    with dynamo_calls.counting():
        run = BackfillRun(tmp_path, clock, "--dry-run", "--segments", "3")
        assert WRITES.isdisjoint(dynamo_calls.calls)

    assert run.status == 0
    assert raw_items() == before
    for record in table.values():
        if record.usable:
            assert f"would upgrade {record.session_id}, " in run.text
            assert f"start {iso_ms(record.start_ms)} ({record.init})" in run.text
        else:
            assert f"skip {record.session_id}: {record.problem}" in run.text
    usable = sum(r.usable for r in table.values())
    assert run.figure("would upgrade") == usable
    assert run.figure("skipped") == len(table) - usable
    assert run.figure("already current") == NEW_SESSIONS
    assert run.figure("records scanned") == len(table) + NEW_SESSIONS
    assert run.log.timer_lines() == []


def test_the_backfill_upgrades_every_usable_record_once_and_a_second_run_changes_nothing(
    table, tmp_path, clock, dynamo_calls
):
    first = BackfillRun(tmp_path, clock, "--segments", "4", "--workers", "2", "--page-size", "3")

    assert first.status == 0, first.text
    usable = [r for r in table.values() if r.usable]
    assert first.figure("upgraded") == len(usable)
    assert first.figure("skipped") == len(table) - len(usable)
    for record in table.values():
        if not record.usable:
            assert "schema_version" not in raw_item(record.session_id)
            assert f"skip {record.session_id}: {record.problem}" in first.text
            continue
        stored = session_item(record.session_id)
        assert (stored.schema_version, stored.started_at_ms, stored.timer_init) == (2, record.start_ms, record.init)
        assert (stored.billed_minutes, stored.charged, stored.legacy_charged) == (record.billed_minutes,) + (
            record.charged,
        ) * 2
        [line] = first.log.timer_lines(record.session_id)
        assert (line["timer_init"], line["start_lag_ms"]) == (record.init, record.lag_ms)
        assert active_sessions_of(record.user_id) == ({record.session_id} if record.active else set())
    skipped = {line["session_id"]: line["reason"] for line in first.log.lines("legacy_skipped")}
    assert skipped == {r.session_id: r.problem for r in table.values() if not r.usable}

    clock.advance(seconds=30)
    before = raw_items()
    with dynamo_calls.counting():
        second = BackfillRun(tmp_path, clock)
        assert WRITES.isdisjoint(dynamo_calls.calls)
    assert second.status == 0
    assert raw_items() == before
    assert second.figure("upgraded") == 0
    assert second.figure("already current") == len(usable) + NEW_SESSIONS
    assert second.log.timer_lines() == []


def bulk_records(clock, count=40):
    now = clock()
    items = [
        schema1_item(f"bulk-{n:04d}", f"u-bulk-{n}", "a-bulk", created_at=seconds(now - 60_000 - n))
        for n in range(count)
    ]
    put_legacy(items)
    return {item["session_id"]["S"] for item in items}


FLAGS = ("--segments", "2", "--workers", "2", "--page-size", "4")


@pytest.mark.parametrize("failing_operation", ["Scan", "TransactWriteItems"])
def test_an_interrupted_backfill_resumes_where_it_stopped(
    dynamo, tmp_path, clock, monkeypatch, dynamo_calls, failing_operation
):
    ids = bulk_records(clock)
    with dynamo_calls.counting():
        BackfillRun(tmp_path, clock, *FLAGS, "--dry-run", "--state", str(tmp_path / "dry.json"))
        full_scan = dynamo_calls.calls.count("Scan")

    with dynamo_calls.counting(), failing_call(monkeypatch, nth=5, matches=lambda op, params: op == failing_operation):
        first = BackfillRun(tmp_path, clock, *FLAGS)
        first_scans = dynamo_calls.calls.count("Scan")
    assert first.status == 1
    assert "incomplete: run it again to resume" in first.text
    assert re.search(r"segment \d stopped: ", first.text)
    upgraded_first = {line["session_id"] for line in first.log.timer_lines()}
    assert 0 < len(upgraded_first) < len(ids)
    assert not json.loads((tmp_path / "state.json").read_text())["complete"]

    with dynamo_calls.counting():
        second = BackfillRun(tmp_path, clock, *FLAGS)
        resumed_scans = dynamo_calls.calls.count("Scan")

    assert second.status == 0, second.text
    assert second.text.startswith("resuming the backfill")
    upgraded_second = {line["session_id"] for line in second.log.timer_lines()}
    assert upgraded_first.isdisjoint(upgraded_second)
    assert upgraded_first | upgraded_second == ids
    # The figures of both parts add up to those of one uninterrupted run.
    assert (second.figure("records scanned"), second.figure("upgraded")) == (len(ids), len(ids))
    assert second.figure("already current") == 0
    assert all(item["schema_version"] == {"N": "2"} for item in raw_items())
    # It went on from the saved keys: both parts read the pages of one scan, plus the page
    # an upgrade failure cut short, read again (the refused Scan never reached DynamoDB).
    reread = 1 if failing_operation == "TransactWriteItems" else 0
    assert first_scans + resumed_scans == full_scan + reread


def test_ctrl_c_stops_between_two_records_and_the_next_run_resumes(dynamo, tmp_path, clock, monkeypatch):
    ids = bulk_records(clock)
    upgrades, some_done = [], threading.Event()
    real_upgrade, real_wait = backfill.upgrade, backfill.wait

    def counted_upgrade(*args):
        upgrades.append(args[1].session_id)
        if len(upgrades) == 3:
            some_done.set()
        return real_upgrade(*args)

    def ctrl_c(*args, **kwargs):
        some_done.wait(timeout=30)
        raise KeyboardInterrupt

    monkeypatch.setattr(backfill, "upgrade", counted_upgrade)
    monkeypatch.setattr(backfill, "wait", ctrl_c)
    first = BackfillRun(tmp_path, clock, *FLAGS)
    monkeypatch.setattr(backfill, "wait", real_wait)

    assert first.status == 130
    assert "interrupted: run it again to resume" in first.text
    assert 3 <= len(upgrades) < len(ids)
    second = BackfillRun(tmp_path, clock, *FLAGS)
    assert second.status == 0, second.text + second.err.getvalue()
    assert sorted(upgrades) == sorted(ids)  # each upgraded once, across both runs
    assert (second.figure("records scanned"), second.figure("upgraded")) == (len(ids), len(ids))


def test_a_dry_run_state_is_never_resumed_as_a_real_run(table, tmp_path, clock, monkeypatch):
    with failing_call(monkeypatch, nth=0, matches=lambda op, params: op == "Scan"):
        dry = BackfillRun(tmp_path, clock, "--dry-run", "--segments", "1")
    assert dry.status == 1

    real = BackfillRun(tmp_path, clock)

    assert real.status == 2
    assert "--restart" in real.err.getvalue()
    assert all("schema_version" not in raw_item(r.session_id) for r in table.values())


def test_the_command_writes_its_log_lines_to_the_log_file(dynamo, tmp_path, capsys):
    # The command runs on the wall clock: records as old as their kind, from now.
    records = legacy_records(system_clock())
    put_legacy(records.values())
    log_file = tmp_path / "backfill.log"
    status = backfill.main(["--state", str(tmp_path / "state.json"), "--log-file", str(log_file)])

    printed = capsys.readouterr().out
    assert status == 0
    assert "upgraded" in printed and str(log_file) in printed
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if '"event"' in line]
    upgrades = [line for line in lines if line["event"] == "timer_started"]
    assert {line["session_id"] for line in upgrades} == {r.session_id for r in records.values() if r.usable}
    assert all(line["upgraded_by"] == "backfill" for line in upgrades)
    assert '"timer_started"' not in printed
