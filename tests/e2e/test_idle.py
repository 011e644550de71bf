"""The idle rule over real HTTP, in real time, on a local stage of its own: SESSION_IDLE_SECONDS
6 and billing every 2 s. The user's start and polls are what "seen" means, recorded at most
once per 6 s / 4 = 1.5 s; a session not seen for 6 s ends at last seen + 6 s, charged the
started minutes up to that instant and never beyond, and stays ended."""

import math
import time
import uuid
from datetime import datetime

import boto3
import pytest

from chalicelib.domain.instants import iso_ms
from harness.client import HttpClient
from harness.local_stage import RunningStage

IDLE_S = 6
IDLE_MS = IDLE_S * 1000
LAG_MS = IDLE_MS // 4  # how far the recorded sighting may trail the user's latest poll
RATE = 137
BALANCE = 10_000
MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def stage():
    # The limit is passed explicitly: a module-scoped stage starts before tests/conftest.py's
    # per-test SESSION_IDLE_SECONDS (ten years) applies, and this module is about the limit.
    running = RunningStage(billing_interval_s=2, extra_env={"SESSION_IDLE_SECONDS": str(IDLE_S)}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(stage):
    return HttpClient(stage.api_url)


@pytest.fixture
def parties(stage):
    """A funded user and an advisor of their own (rate 137) on the idle stage."""
    tag = uuid.uuid4().hex[:8]
    return stage.add_user(f"idle-user-{tag}", BALANCE), stage.add_advisor(f"idle-adv-{tag}", RATE)


def ms(iso: str) -> int:
    """An instant of the API (ISO 8601, whole ms, UTC) as epoch ms."""
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def poll_every_second(poll, seconds: float, until=lambda view: False):
    """Poll once a second (on the wall clock, as the stage runs) for `seconds`, or until
    `until(view)`; every view, with its server_time in ms."""
    views, first = [], time.monotonic()
    for tick in range(int(seconds) + 1):
        time.sleep(max(0.0, first + tick - time.monotonic()))
        reply = poll()
        assert reply.status == 200, reply.body
        views.append((ms(reply.body["server_time"]), reply.body))
        if until(reply.body):
            break
    return views


def backdate(stage, session_id: str, started_ms: int) -> None:
    """Move a session's start to `started_ms`, as if it had been running for a while (as
    test_billing_exhaustion.py does). The user's last-seen, on the account, stays as it is."""
    boto3.client("dynamodb", endpoint_url=stage.dynamodb_url, region_name="us-east-1").update_item(
        TableName="sessions",
        Key={"session_id": {"S": session_id}},
        UpdateExpression="SET started_at_ms = :ms, started_at = :iso",
        ExpressionAttributeValues={":ms": {"N": str(started_ms)}, ":iso": {"S": iso_ms(started_ms)}},
    )


def test_a_session_ends_idle_when_only_the_advisor_polls(stage, client, parties):
    user, advisor = parties
    sid = "idle-" + uuid.uuid4().hex[:12]
    started = client.start(user, advisor, sid)
    assert started.status == 201, started.body
    assert started.body["idle_timeout_seconds"] == IDLE_S

    # The user's page polls every second for three times the limit: the session goes on.
    user_views = poll_every_second(lambda: client.poll(user, sid), 3 * IDLE_S)
    for _, view in user_views:
        assert (view["status"], view["end_reason"], view["timer"]["state"]) == ("active", None, "running"), view
        assert view["idle_timeout_seconds"] == IDLE_S
    assert len(user_views) == 3 * IDLE_S + 1
    last_user_poll = user_views[-1][0]

    # The page is gone. Its session is moved back so that the latest instant it can go idle
    # (the last poll + 6 s) is 1 ms before its third minute ends: charging past the idle
    # instant, to when the end was noticed, would charge a fourth minute.
    started_ms = last_user_poll + IDLE_MS - (3 * MINUTE_MS - 1)
    backdate(stage, sid, started_ms)

    # Only the advisor polls now, every second: that keeps nobody there.
    advisor_views = poll_every_second(
        lambda: client.poll(advisor, sid), IDLE_S + 6, until=lambda view: view["status"] == "ended"
    )
    ended = advisor_views[-1][1]
    assert (ended["status"], ended["end_reason"]) == ("ended", "idle"), ended
    assert ended["started_at"] == iso_ms(started_ms)
    ended_at = ms(ended["ended_at"])

    # The last recorded sighting is one of the user's polls, at most a quarter of the limit
    # before the last one; the end is exactly the limit after it.
    assert last_user_poll - LAG_MS + IDLE_MS <= ended_at <= last_user_poll + IDLE_MS, (
        ended["ended_at"],
        iso_ms(last_user_poll),
    )
    assert ended_at - IDLE_MS in {at for at, _ in user_views}, "the session went idle from no user poll's instant"
    # Never active past the idle instant, never ended before it, whoever asked.
    for at, view in advisor_views:
        assert view["status"] == ("active" if at < ended_at else "ended"), (iso_ms(at), view)
        assert "balance" not in view  # the advisor's view

    # Charged the started minutes up to the idle instant, none beyond.
    minutes = math.ceil((ended_at - started_ms) / MINUTE_MS)
    assert minutes == 3
    assert (ended["billed_minutes"], ended["charged"]) == (minutes, minutes * RATE)
    assert ended["elapsed_seconds"] == (ended_at - started_ms) / 1000
    assert (ended["seconds_remaining"], ended["timer"]["state"]) == (None, "stopped")

    # The user comes back: ended, as it was, not revived; the balance paid exactly that.
    time.sleep(1)
    again = client.poll(user, sid)
    assert again.status == 200, again.body
    view = again.body
    assert (view["status"], view["end_reason"], view["ended_at"]) == ("ended", "idle", ended["ended_at"])
    assert (view["billed_minutes"], view["charged"], view["elapsed_seconds"]) == (
        minutes,
        minutes * RATE,
        ended["elapsed_seconds"],
    )
    assert view["balance"] == BALANCE - minutes * RATE
    # ... and may start a new session at once.
    fresh = client.start(user, advisor, "idle-" + uuid.uuid4().hex[:12])
    assert fresh.status == 201, fresh.body
    assert (fresh.body["status"], fresh.body["balance"]) == ("active", BALANCE - minutes * RATE)
    assert client.end(user, fresh.body["session_id"]).status == 200


def test_a_user_never_seen_after_the_start_can_start_again_once_it_is_idle(client, parties):
    user, advisor = parties
    sid = "idle-" + uuid.uuid4().hex[:12]
    started = client.start(user, advisor, sid)
    assert started.status == 201, started.body
    # Seen at the start only: when its write was sent, between the timer's start and the answer.
    earliest_idle = ms(started.body["started_at"]) + IDLE_MS
    latest_idle = ms(started.body["server_time"]) + IDLE_MS

    # Before the idle instant the session holds the user's one active session.
    busy = client.start(user, advisor, "idle-" + uuid.uuid4().hex[:12])
    assert (busy.status, busy.body.get("active_session_id")) == (409, sid), busy.body

    # Just after it, a start succeeds: it ends the idle session itself unless billing did.
    time.sleep(max(0.0, (latest_idle + 50) / 1000 - time.time()))
    fresh = client.start(user, advisor, "idle-" + uuid.uuid4().hex[:12])
    assert fresh.status == 201, fresh.body

    assert fresh.body["balance"] == BALANCE - RATE  # the idle session's one minute
    ended_fresh = client.end(user, fresh.body["session_id"])
    assert (ended_fresh.status, ended_fresh.body["charged"]) == (200, RATE)

    old = client.poll(user, sid).body
    assert (old["status"], old["end_reason"]) == ("ended", "idle")
    assert earliest_idle <= ms(old["ended_at"]) <= latest_idle
    assert old["elapsed_seconds"] == (ms(old["ended_at"]) - ms(old["started_at"])) / 1000
    assert (old["billed_minutes"], old["charged"]) == (1, RATE)
    assert old["balance"] == BALANCE - 2 * RATE  # a minute of each session, nothing more
