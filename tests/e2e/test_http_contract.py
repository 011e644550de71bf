"""Every row of the contract's HTTP table, over real HTTP on the local stage."""

import time
import uuid
from datetime import datetime

from harness.http import call

ADVISOR = "demo-advisor"


def _sid():
    return "e2e-" + uuid.uuid4().hex[:16]


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_health(stage):
    reply = call("GET", f"{stage.api_url}/health")
    assert (reply.status, reply.body) == (200, {"status": "ok"})


def test_start_201_with_location_and_start_between_send_and_receive(client, seeded):
    user = seeded(10_000)
    sent = time.time_ns() // 1_000_000
    reply = client.start(user, ADVISOR, _sid())
    received = time.time_ns() // 1_000_000
    assert reply.status == 201
    assert reply.headers["Location"] == f"/sessions/{reply.body['session_id']}"
    assert sent <= _ms(reply.body["started_at"]) <= received
    assert reply.body["timer"]["initialized"] == "at_creation"


def test_start_repeat_200_same_session(client, seeded):
    user, sid = seeded(10_000), _sid()
    first = client.start(user, ADVISOR, sid)
    again = client.start(user, ADVISOR, sid)
    assert (first.status, again.status) == (201, 200)
    assert again.body["started_at"] == first.body["started_at"]


def test_start_failures(client, seeded, stage):
    user = seeded(10_000)
    assert client.start(None, ADVISOR).status == 401
    assert call("POST", f"{stage.api_url}/sessions", user, raw=b"{nope").status == 400
    assert client.start(user, "no-such-advisor").status == 404
    assert client.start(seeded(100), ADVISOR).status == 402
    sid = _sid()
    assert client.start(user, ADVISOR, sid).status == 201
    other = client.start(user, ADVISOR, _sid())
    assert other.status == 409 and other.body["active_session_id"] == sid
    taken = client.start(seeded(10_000), ADVISOR, sid)
    assert taken.status == 409 and taken.body["error"] == "session_id_taken"


def test_poll_and_end(client, seeded):
    user, sid = seeded(10_000), _sid()
    client.start(user, ADVISOR, sid)
    polled = client.poll(user, sid)
    assert polled.status == 200 and polled.body["status"] == "active"
    assert client.poll(seeded(10_000), sid).status == 404
    assert client.poll(user, "missing-session-1").status == 404
    ended = client.end(user, sid)
    assert ended.status == 200 and ended.body["status"] == "ended"
    assert ended.body["charged"] == 199 and ended.body["balance"] == 10_000 - 199
    again = client.end(user, sid)
    assert again.status == 200 and again.body["ended_at"] == ended.body["ended_at"]
    assert client.end(seeded(10_000), sid).status == 404


def test_the_advisor_ends_a_session(client, seeded):
    user, sid = seeded(10_000), _sid()
    client.start(user, ADVISOR, sid)
    ended = client.end(ADVISOR, sid)
    assert ended.status == 200 and ended.body["end_reason"] == "advisor"


def test_errors_the_server_makes_itself_have_our_body(stage):
    for method, path in (("GET", "/nowhere"), ("DELETE", "/health"), ("TRACE", "/health"), ("PUT", "/sessions")):
        reply = call(method, f"{stage.api_url}{path}")
        assert 400 <= reply.status < 500, (method, path)
        assert set(reply.body) == {"error", "message"}, (method, path, reply.body)


def test_cors_answers_for_the_chat_page_origin(stage):
    reply = call(
        "OPTIONS",
        f"{stage.api_url}/sessions",
        headers={
            "Origin": stage.web_url,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-User-Id,Content-Type",
        },
    )
    assert reply.status == 200
    # The local stage allows the origin its chat page is served from (WEB_PORT).
    assert reply.headers["Access-Control-Allow-Origin"] == stage.web_url
    assert "X-User-Id" in reply.headers["Access-Control-Allow-Headers"]
