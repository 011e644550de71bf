"""What an attacker or a careless operator could do before issue 14, each refused now:
advisor rates that pay the user, a stranger learning about someone else's broken record,
authorizer contexts that crashed the handler, tokens of any app client, and a stage named
`local` that trusted X-User-Id inside Lambda."""

import pytest

from chalicelib.domain.rates import MAX_RATE_PER_MINUTE
from chalicelib.services.start import TAKEN
from chalicelib.settings import current
from harness.dynamo import active_sessions_of, add_advisor, add_user, all_sessions, balance_of, raw_client
from harness.gateway import EXECUTE_API_HOST, RestGateway
from harness.legacy import legacy_records, put_legacy, raw_item

ADVISOR = "a-odd-rate"
SID = "security-0001"


def _put_advisor_rate(rate_attribute):
    item = {"advisor_id": {"S": ADVISOR}, "display_name": {"S": "Odd"}}
    if rate_attribute is not None:
        item["rate_per_minute"] = rate_attribute
    raw_client().put_item(TableName=current().advisors_table, Item=item)


# ---- advisor rates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [{"N": "-100"}, {"N": "-1"}, {"N": "1.5"}, {"N": str(MAX_RATE_PER_MINUTE + 1)}, {"S": "199"}, None],
    ids=["negative", "minus one", "fractional", "over the bound", "text", "missing"],
)
def test_an_advisor_whose_rate_is_unusable_cannot_be_booked_and_nothing_is_written(api, demo, dynamo_calls, stored):
    _put_advisor_rate(stored)
    dynamo_calls.reset()

    status, body, _ = api.start(demo["user"], ADVISOR, session_id=SID)

    assert (status, body["error"]) == (409, "advisor_unavailable")
    assert body["message"] == "this advisor cannot be booked right now"  # nothing about the record
    assert "TransactWriteItems" not in dynamo_calls.calls and "PutItem" not in dynamo_calls.calls
    assert all_sessions() == [] and active_sessions_of(demo["user"]) == set()
    assert balance_of(demo["user"]) == demo["balance"]


@pytest.mark.parametrize("rate", [0, MAX_RATE_PER_MINUTE], ids=["free", "the bound"])
def test_rates_at_the_bounds_are_booked(api, dynamo, rate):
    add_user("u-rich", MAX_RATE_PER_MINUTE)
    add_advisor(ADVISOR, rate)
    status, view, _ = api.start("u-rich", ADVISOR, session_id=SID)
    assert status == 201, view
    assert view["rate_per_minute"] == rate


# ---- someone else's session_id, whatever its record holds -------------------------------------


@pytest.fixture
def broken_records(dynamo, clock):
    records = {kind: record for kind, record in legacy_records(clock()).items() if not record.usable}
    put_legacy(records.values())
    return records


def test_a_stranger_naming_a_broken_record_is_told_only_that_the_id_is_taken(api, demo, broken_records):
    assert api.start(demo["user"], demo["advisor"], session_id=SID)[0] == 201
    plain_taken = api.start(demo["other"], demo["advisor"], session_id=SID)[:2]
    assert plain_taken == (409, {"error": "session_id_taken", "message": TAKEN})

    for kind, record in broken_records.items():
        before = raw_item(record.session_id)
        for stranger in (demo["other"], record.advisor_id):
            answer = api.start(stranger, demo["advisor"], session_id=record.session_id)[:2]
            # The same answer as for any taken id: no record internals, no hint it is broken.
            assert answer == plain_taken, (kind, stranger, answer)
        assert raw_item(record.session_id) == before, kind
    assert active_sessions_of(demo["other"]) == set()


def test_the_broken_records_own_user_is_told_it_needs_repair_without_its_internals(api, demo, broken_records):
    for kind, record in broken_records.items():
        add_user(record.user_id, 10_000)
        status, body, _ = api.start(record.user_id, demo["advisor"], session_id=record.session_id)
        assert (status, body["error"]) == (409, "legacy_record_unusable"), kind
        assert record.problem not in body["message"] and "DynamoDB" not in body["message"], kind


# ---- the deployed authorizer's context ---------------------------------------------------------


@pytest.fixture
def gateway(dynamo, demo, clock, monkeypatch):
    monkeypatch.setenv("STAGE", "prod")
    return RestGateway(EXECUTE_API_HOST, "/api", clock)


@pytest.mark.parametrize(
    "authorizer",
    [
        None,
        "a string",
        ["claims"],
        {"claims": "sub=u-alice"},
        {"claims": ["u-alice"]},
        {"claims": {}},
        {"claims": {"sub": 12345}},
        {"claims": {"sub": ["u-alice"]}},
        {"claims": {"sub": "u-alice", "token_use": "refresh"}},
    ],
    ids=[
        "none",
        "text",
        "list",
        "claims text",
        "claims list",
        "no sub",
        "numeric sub",
        "list sub",
        "refresh token",
    ],
)
def test_a_malformed_authorizer_context_is_401_before_any_read(gateway, demo, dynamo_calls, authorizer):
    for method, path, body in (
        ("POST", "/api/sessions", {"advisor_id": demo["advisor"], "session_id": SID}),
        ("GET", f"/api/sessions/{SID}", None),
        ("POST", f"/api/sessions/{SID}/end", None),
    ):
        status, answer, _ = gateway.send(method, path, None, body, authorizer=authorizer)
        assert (status, answer["error"]) == (401, "unauthenticated"), (method, path, answer)
    assert dynamo_calls.calls == []


CLIENT = "allowedclient000000000001"


@pytest.mark.parametrize(
    "claims, allowed",
    [
        ({"token_use": "id", "aud": CLIENT}, True),
        ({"token_use": "access", "client_id": CLIENT}, True),
        ({"token_use": "id", "aud": "otherclient00000000000001"}, False),
        ({"token_use": "access", "client_id": "otherclient00000000000001"}, False),
        ({"aud": CLIENT}, False),
    ],
    ids=["ID token", "access token", "ID token of another client", "access token of another client", "no token_use"],
)
def test_only_tokens_of_the_listed_app_clients_are_accepted(gateway, demo, monkeypatch, claims, allowed):
    monkeypatch.setenv("ALLOWED_APP_CLIENT_IDS", f"{CLIENT}, spareclient")
    authorizer = {"claims": {"sub": demo["user"], **claims}}

    status, answer, _ = gateway.send("POST", "/api/sessions", None, {"advisor_id": demo["advisor"]}, authorizer)

    if allowed:
        assert status == 201, answer
    else:
        assert (status, answer["error"]) == (401, "unauthenticated")
        assert all_sessions() == []


# ---- a stage named local inside Lambda -------------------------------------------------------------


def test_a_local_stage_running_in_lambda_ignores_the_local_header(api, demo, monkeypatch, dynamo_calls):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "session-timer-local")
    dynamo_calls.reset()

    status, body, _ = api.start(demo["user"], demo["advisor"], session_id=SID)

    assert (status, body["error"]) == (401, "unauthenticated")
    assert dynamo_calls.calls == [] and all_sessions() == []
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    assert api.start(demo["user"], demo["advisor"], session_id=SID)[0] == 201  # the control
