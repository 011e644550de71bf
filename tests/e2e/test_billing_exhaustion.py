"""The contract's billing rules over real HTTP on the local stage, billed by its driver (every 2 s
here): credits running out end the session where the paid minutes end, to the millisecond,
the polls agree with the run, and `make reconcile` finds the books in order afterwards."""

import os
import subprocess
import sys
import time
import uuid

import boto3

from chalicelib.domain.instants import iso_ms
from harness.clock import MINUTE_MS
from harness.local_stage import PROJECT

RATE = 199  # the demo advisor's
BACKDATE_MS = 10 * MINUTE_MS


def _backdate(stage, session_id: str, by_ms: int) -> int:
    """Move a session's start into the past, as if it had been running for a while."""
    client = boto3.client("dynamodb", endpoint_url=stage.dynamodb_url, region_name="us-east-1")
    item = client.get_item(TableName="sessions", Key={"session_id": {"S": session_id}}, ConsistentRead=True)["Item"]
    started = int(item["started_at_ms"]["N"]) - by_ms
    client.update_item(
        TableName="sessions",
        Key={"session_id": {"S": session_id}},
        UpdateExpression="SET started_at_ms = :ms, started_at = :iso",
        ExpressionAttributeValues={":ms": {"N": str(started)}, ":iso": {"S": iso_ms(started)}},
    )
    return started


def test_credits_running_out_end_the_session_at_the_paid_minutes(stage, client, seeded):
    user, sid = seeded(2 * RATE + 50), "exh-" + uuid.uuid4().hex[:12]
    assert client.start(user, "demo-advisor", sid).status == 201
    started = _backdate(stage, sid, BACKDATE_MS)

    shown, deadline = [], time.monotonic() + 20
    view = client.poll(user, sid).body
    while view["status"] == "active" and time.monotonic() < deadline:
        shown.append(view["elapsed_seconds"])
        # Between the backdating and the driver's run, the display is already frozen at the cap.
        assert view["elapsed_seconds"] == 120.0 and view["seconds_remaining"] == 0
        time.sleep(0.3)
        view = client.poll(user, sid).body

    assert view["status"] == "ended", "the driver never ended it"
    assert view["end_reason"] == "credits_exhausted"
    assert view["ended_at"] == iso_ms(started + 2 * MINUTE_MS)
    assert view["elapsed_seconds"] == 120.0
    assert (view["billed_minutes"], view["charged"], view["balance"]) == (2, 2 * RATE, 50)
    assert shown == sorted(shown)
    # The account's active marker went with the end: a new start is refused for the 50 units
    # left (402), not for an active session (409).
    again = client.start(user, "demo-advisor", "exh-" + uuid.uuid4().hex[:12])
    assert (again.status, again.body["error"]) == (402, "insufficient_credit")
    assert '"event":"billing_run"' in stage.output()  # the driver's runs log their line


def test_make_reconcile_finds_the_local_stage_books_in_order(stage, client, seeded):
    user, sid = seeded(10_000), "rec-" + uuid.uuid4().hex[:12]
    client.start(user, "demo-advisor", sid)
    _backdate(stage, sid, 3 * MINUTE_MS + 500)
    deadline = time.monotonic() + 20
    while client.poll(user, sid).body["billed_minutes"] < 4 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert client.poll(user, sid).body["charged"] == 4 * RATE

    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT": stage.dynamodb_url,
        "BILLING_INTERVAL_SECONDS": "2",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.reconcile"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "agree" in done.stdout
