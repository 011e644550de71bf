"""Records of the previous release on the local stage, over real HTTP: written straight into
its DynamoDB (moto) as the old release wrote them, then polled, billed by the stage's driver
(every 2 s here), ended, and upgraded by `python -m chalicelib.legacy.backfill`."""

import math
import subprocess
import sys
import time
import uuid

import boto3
import pytest

from chalicelib.domain.instants import iso_ms
from harness.legacy import RATE, put_legacy, raw_item, schema1_item, seconds
from harness.local_stage import PROJECT

BALANCE = 10_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def table(stage):
    return boto3.client("dynamodb", endpoint_url=stage.dynamodb_url, region_name="us-east-1")


@pytest.fixture
def legacy_session(table, seeded):
    """A funded user with one schema-1 record, started `age_s` ago by the old release."""

    def write(age_s: float, status="active", **numbers):
        tag = uuid.uuid4().hex[:10]
        user = seeded(BALANCE, user=f"old-user-{tag}")
        session_id = f"old-e2e-{tag}"
        start = now_ms() - int(age_s * 1000)
        put_legacy(
            [
                schema1_item(
                    session_id,
                    user,
                    "demo-advisor",
                    status,
                    created_at=seconds(start - 4_250),
                    timer_start=seconds(start),
                    **numbers,
                )
            ],
            client=table,
            table="sessions",
        )
        return user, session_id, start

    return write


def wait_for(poll, done, timeout_s: float = 10):
    """Poll every 0.5 s (real time: the driver runs on the wall clock) until `done`."""
    deadline = time.monotonic() + timeout_s
    view = poll()
    while not done(view) and time.monotonic() < deadline:
        time.sleep(0.5)
        view = poll()
    return view


def ledger_total(table, session_id: str) -> int:
    items = table.query(
        TableName="ledger",
        KeyConditionExpression="session_id = :s",
        ExpressionAttributeValues={":s": {"S": session_id}},
        ConsistentRead=True,
    )["Items"]
    return sum(int(item["amount"]["N"]) for item in items)


def test_a_schema1_session_is_polled_from_its_start_billed_by_the_driver_and_ended(client, legacy_session, table):
    user, sid, start = legacy_session(150, billed_minutes=2, charged=2 * RATE)

    sent = now_ms()
    reply = client.poll(user, sid)
    received = now_ms()

    assert reply.status == 200, reply.body
    view = reply.body
    assert view["started_at"] == iso_ms(start)
    assert view["timer"] == {"state": "running", "initialized": "legacy"}
    assert (sent - start) / 1000 <= view["elapsed_seconds"] <= (received - start) / 1000
    assert (view["billed_minutes"], view["charged"], view["rate_per_minute"]) == (2, 2 * RATE, RATE)

    # Upgraded: it is the user's active session now.
    refused = client.start(user, "demo-advisor", "new-" + sid)
    assert refused.status == 409
    assert refused.body["active_session_id"] == sid

    # 150 s owes a third minute: the stage's billing driver charges it (billing lists only
    # upgraded sessions, and this one was upgraded by the poll).
    billed = wait_for(lambda: client.poll(user, sid).body, lambda v: v["billed_minutes"] >= 3)
    assert (billed["billed_minutes"], billed["charged"]) == (3, 3 * RATE)
    assert billed["balance"] == BALANCE - RATE

    ended = client.end(user, sid).body
    assert (ended["status"], ended["end_reason"]) == ("ended", "user")
    minutes = math.ceil(ended["elapsed_seconds"] / 60)
    assert ended["billed_minutes"] == minutes
    assert ended["charged"] == 2 * RATE + (minutes - 2) * RATE
    assert ended["balance"] == BALANCE - (minutes - 2) * RATE
    assert ledger_total(table, sid) == ended["charged"] - 2 * RATE  # what the old release charged is not ours
    assert client.start(user, "demo-advisor", "new-" + sid).status == 201


def test_ending_a_schema1_session_as_its_first_touch_charges_what_it_owes(client, legacy_session, table):
    user, sid, start = legacy_session(61)  # never billed by the old release: 2 started minutes

    reply = client.end(user, sid)

    assert reply.status == 200, reply.body
    ended = reply.body
    assert ended["started_at"] == iso_ms(start)
    assert ended["elapsed_seconds"] >= 61
    assert (ended["billed_minutes"], ended["charged"]) == (2, 2 * RATE)
    assert ended["balance"] == BALANCE - 2 * RATE
    assert ledger_total(table, sid) == 2 * RATE
    assert client.start(user, "demo-advisor", "new-" + sid).status == 201  # its marker was cleared


def test_an_ended_schema1_session_without_an_end_time_shows_what_was_billed(client, legacy_session):
    user, sid, _ = legacy_session(600, status="ended", billed_minutes=7, charged=7 * RATE)

    view = client.poll(user, sid).body

    assert (view["status"], view["ended_at"], view["elapsed_seconds"]) == ("ended", None, 7 * 60)
    assert view["timer"] == {"state": "stopped", "initialized": "legacy"}
    assert view["balance"] == BALANCE


def backfill(stage, tmp_path, *flags):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "chalicelib.legacy.backfill",
            "--endpoint-url",
            stage.dynamodb_url,
            "--state",
            str(tmp_path / "state.json"),
            "--log-file",
            str(tmp_path / "backfill.log"),
            *flags,
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_backfill_command_lets_billing_find_a_session_nobody_polls(stage, legacy_session, table, tmp_path):
    user, sid, start = legacy_session(90)  # owes 2 minutes, billed none
    before = raw_item(sid, client=table, table="sessions")

    dry = backfill(stage, tmp_path, "--dry-run", "--state", str(tmp_path / "dry.json"))
    assert dry.returncode == 0, dry.stderr
    assert f"would upgrade {sid}, active, start {iso_ms(start)}" in dry.stdout
    assert raw_item(sid, client=table, table="sessions") == before

    real = backfill(stage, tmp_path)
    assert real.returncode == 0, real.stderr
    assert "complete" in real.stdout
    assert f'"session_id":"{sid}"' in (tmp_path / "backfill.log").read_text()

    # No request touches it: the driver finds it in the active index and bills it.
    item = wait_for(
        lambda: raw_item(sid, client=table, table="sessions"), lambda i: i.get("billed_minutes") == {"N": "2"}
    )
    assert (item["billed_minutes"], item["charged"], item["schema_version"]) == (
        {"N": "2"},
        {"N": str(2 * RATE)},
        {"N": "2"},
    )

    again = backfill(stage, tmp_path)
    assert again.returncode == 0
    assert "  upgraded          0" in again.stdout
