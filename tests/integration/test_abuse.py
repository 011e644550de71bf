"""Hostile callers: someone else's session, a spoofed identity, oversized and malformed input,
and what the logs keep of it all."""

import io
import json
from types import SimpleNamespace

import pytest
from botocore.client import BaseClient
from chalice.test import Client

from app import app
from chalicelib.api import sessions as session_routes
from chalicelib.api.identity import caller_id
from chalicelib.domain.errors import Unauthenticated
from chalicelib.domain.validation import MAX_BODY_BYTES
from chalicelib.observability import logger
from harness.dynamo import add_advisor, balance_of, ledger_of, session_item
from harness.faults import THROTTLED, failing

SID = "abuse-session-01"


@pytest.fixture
def started(api, demo, clock):
    assert api.start(demo["user"], demo["advisor"], session_id=SID)[0] == 201
    clock.advance(seconds=75)
    return SID


# ---- someone else's session ----------------------------------------------------------------


@pytest.mark.parametrize("stranger", ["u-bob", "a-dave"], ids=["another user", "another advisor"])
def test_someone_elses_session_looks_exactly_like_no_session(api, demo, started, dynamo_calls, stranger):
    add_advisor("a-dave", 99)
    missing = api.poll(stranger, "abuse-nothing-01")[:2], api.end(stranger, "abuse-nothing-01")[:2]
    dynamo_calls.reset()
    theirs = api.poll(stranger, started)[:2], api.end(stranger, started)[:2]
    # Same status, same body: nothing tells a stranger that the id exists.
    assert theirs == missing and theirs[0] == (404, {"error": "session_not_found", "message": "no such session"})
    assert "TransactWriteItems" not in dynamo_calls.calls  # ending it was never even attempted
    assert session_item(started).status == "active" and ledger_of(started) == []
    assert balance_of(demo["user"]) == demo["balance"]


# ---- a spoofed identity --------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_local_header_alone_is_refused_before_any_read_in_deployed_stages(dynamo, demo, dynamo_calls, stage):
    with Client(app, stage_name=stage) as client:
        headers = {"X-User-Id": demo["user"], "Content-Type": "application/json"}
        replies = [
            client.http.post("/sessions", headers=headers, body=json.dumps({"advisor_id": demo["advisor"]})),
            client.http.get(f"/sessions/{SID}", headers=headers),
            client.http.post(f"/sessions/{SID}/end", headers=headers),
        ]
    assert [r.status_code for r in replies] == [401, 401, 401]
    assert dynamo_calls.calls == []


def _request(headers, sub=None):
    authorizer = {"claims": {"sub": sub}} if sub else None
    return SimpleNamespace(headers=headers, context={"authorizer": authorizer})


def test_deployed_the_caller_is_the_tokens_subject_whatever_the_header_says(monkeypatch):
    monkeypatch.setenv("STAGE", "prod")
    assert caller_id(_request({"x-user-id": "u-victim"}, sub="u-attacker")) == "u-attacker"
    with pytest.raises(Unauthenticated):
        caller_id(_request({"x-user-id": "u-victim"}))


def test_locally_the_header_is_the_identity(monkeypatch):
    monkeypatch.setenv("STAGE", "local")
    assert caller_id(_request({"x-user-id": "u-alice"}, sub="ignored-locally")) == "u-alice"


# ---- oversized and malformed input: refused before DynamoDB --------------------------------


def _padded_start(total_bytes: int) -> str:
    """A valid start body of exactly `total_bytes` bytes."""
    empty = json.dumps({"advisor_id": "a-carol", "pad": ""})
    return json.dumps({"advisor_id": "a-carol", "pad": "p" * (total_bytes - len(empty))})


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda api, user: api.start(user, raw=_padded_start(MAX_BODY_BYTES + 1)), (413, "payload_too_large")),
        (lambda api, user: api.start(user, raw="x" * (1 << 20)), (413, "payload_too_large")),
        (lambda api, user: api.start(user, raw=json.dumps({f"k{i}": i for i in range(300)})), (400, "invalid_request")),
        (lambda api, user: api.start(user, "a" * 129), (400, "invalid_request")),
        (lambda api, user: api.start(user, "a-carol", session_id="s" * 65), (400, "invalid_request")),
        (lambda api, user: api.start("u" * 10_000, "a-carol"), (401, "unauthenticated")),
        (lambda api, user: api.start("u-alice\r\nX-Admin: 1", "a-carol"), (401, "unauthenticated")),
        (lambda api, user: api.poll(user, "s" * 10_000), (400, "invalid_request")),
        (lambda api, user: api.end(user, "s" * 129), (400, "invalid_request")),
    ],
    ids=[
        "one byte over",
        "a megabyte",
        "many fields",
        "long advisor_id",
        "long session_id",
        "huge identity",
        "identity with a header break",
        "huge path id",
        "long path id",
    ],
)
def test_oversized_or_malformed_input_is_refused_without_any_dynamodb_call(api, demo, dynamo_calls, call, expected):
    status, body, _ = call(api, demo["user"])
    assert (status, body["error"]) == expected
    assert dynamo_calls.calls == []


def test_a_body_of_exactly_the_limit_is_accepted(api, demo):
    assert len(_padded_start(MAX_BODY_BYTES).encode()) == MAX_BODY_BYTES
    assert api.start(demo["user"], raw=_padded_start(MAX_BODY_BYTES))[0] == 201


@pytest.mark.parametrize(
    "bad_id",
    ["a%2Fb", "séance-0001", "abc\x00def", "id with space", "emoji-🙂-0001", "a'OR'1", "$(id)", "{'S': 'x'}"],
)
def test_path_ids_outside_the_alphabet_never_reach_a_key(api, demo, dynamo_calls, bad_id):
    for status, body, _ in (api.poll(demo["user"], bad_id), api.end(demo["user"], bad_id)):
        assert 400 <= status < 500 and set(body) == {"error", "message"}
    assert dynamo_calls.calls == []


@pytest.fixture
def sent_keys(monkeypatch):
    """Every key value the app sends to DynamoDB, as text."""
    sent = []
    original = BaseClient._make_api_call

    def recording(client, operation_name, params):
        sent.append(json.dumps(params))
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return sent


def test_a_bad_advisor_id_next_to_a_valid_session_id_never_reaches_a_key(api, demo, sent_keys):
    """The idempotency check must read first (docs/contract.md), but only with the ids that passed."""
    status, body, _ = api.start(demo["user"], "evil\u202eid-0001", session_id="abuse-session-02")
    assert status == 400 and body["error"] == "invalid_request"
    assert sent_keys and not any("evil" in request for request in sent_keys)


# ---- logs ----------------------------------------------------------------------------------

# A recognisable fake ID token and cookie: any log line carrying them is a leak.
FAKE_JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFidXNlIn0.eyJzdWIiOiJ1LWFsaWNlLXRva2VuLXN1YmplY3QifQ.c2lnbmF0dXJlLWFidXNl"
COOKIE = "sid=cookie-secret-4d2f"
BODY_MARKER = "whole-body-marker-91b7"
SECRET_HEADERS = {"Authorization": f"Bearer {FAKE_JWT}", "Cookie": COOKIE}


@pytest.fixture
def log_output():
    """What the service's logger writes, formatted as in Lambda (the handler's stream was bound
    at import, before any pytest capture fixture could swap sys.stdout)."""
    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_logs_carry_ids_but_never_a_token_a_header_dump_or_a_body(api, demo, clock, monkeypatch, log_output):
    body = {"advisor_id": demo["advisor"], "session_id": SID, "note": BODY_MARKER}
    assert api.start(demo["user"], body=body, headers=SECRET_HEADERS)[0] == 201
    api.start(demo["user"], raw='{"advisor_id": "' + BODY_MARKER, headers=SECRET_HEADERS)  # 400
    with failing(monkeypatch, "TransactGetItems", THROTTLED):
        assert api.poll(demo["user"], SID, headers=SECRET_HEADERS)[0] == 503

    def crash(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(session_routes, "poll_session", crash)
    assert api.poll(demo["user"], SID, headers=SECRET_HEADERS)[0] == 500
    clock.advance(seconds=61)
    assert api.end(demo["user"], SID, headers=SECRET_HEADERS)[0] == 200

    out = log_output.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    events = {line.get("event") for line in lines}
    assert {"timer_started", "charge_committed"} <= events
    assert SID in out and demo["user"] in out  # ids, yes
    for leak in [FAKE_JWT, *FAKE_JWT.split("."), "cookie-secret", BODY_MARKER, "Bearer", "Cookie", "Authorization"]:
        assert leak.lower() not in out.lower(), leak
    assert not any("headers" in line or "body" in line for line in lines)  # no dumped event
