"""The Location of POST /sessions leads back to the session, wherever the API is reached.

Deployed, the API lives under its stage (`https://xyz.execute-api.../api/sessions`) or under
a custom domain's base path mapping (`https://chat.example.com/v1/sessions`, or none). Here
the deployed stage's handler is called in-process with API Gateway REST (v1) events as the
gateway builds them, and the Location it answers is followed the way the gateway would route
it. The local stage serves at the root: its Location stays `/sessions/{id}`, and following it
works both through chalice's test client and over real HTTP on local/api_server.py.
"""

import json

import pytest

from app import app
from harness.dynamo import add_advisor, add_user
from harness.gateway import EXECUTE_API_HOST, RestGateway, lambda_context
from harness.http import call, request_headers
from harness.local_stage import serving_api

SID = "page-0001"
CUSTOM_DOMAIN = "chat.example.com"


# ---- the deployed stage: API Gateway REST events, in-process ------------------------------------


@pytest.fixture
def deployed(dynamo, demo, clock, monkeypatch):
    monkeypatch.setenv("STAGE", "dev")
    return lambda host, base_path: RestGateway(host, base_path, clock)


def test_at_the_execute_api_url_the_location_keeps_the_stage(deployed, demo):
    gateway = deployed(EXECUTE_API_HOST, "/api")
    event = gateway.event("POST", "/api/sessions", demo["user"], {"advisor_id": demo["advisor"], "session_id": SID})
    assert (event["path"], event["requestContext"]["path"]) == ("/sessions", "/api/sessions")

    answer = app(event, lambda_context())

    assert answer["statusCode"] == 201, answer["body"]
    assert answer["headers"]["Location"] == f"/api/sessions/{SID}"


@pytest.mark.parametrize(
    "host, base_path",
    [(EXECUTE_API_HOST, "/api"), (CUSTOM_DOMAIN, "/v1"), (CUSTOM_DOMAIN, "/chat/v2"), (CUSTOM_DOMAIN, "")],
    ids=["stage api", "base path v1", "two-level base path", "no base path"],
)
def test_the_deployed_location_leads_to_the_session_under_the_same_base_path(deployed, demo, host, base_path):
    gateway = deployed(host, base_path)
    start = {"advisor_id": demo["advisor"], "session_id": SID}

    status, view, headers = gateway.send("POST", f"{base_path}/sessions", demo["user"], start)
    assert status == 201, view
    location = headers["Location"]
    assert location == f"{base_path}/sessions/{SID}"

    status, polled, _ = gateway.send("GET", location, demo["user"])
    assert (status, polled["session_id"], polled["started_at"]) == (200, SID, view["started_at"])
    status, ended, _ = gateway.send("POST", f"{location}/end", demo["user"])
    assert (status, ended["status"]) == (200, "ended")

    # A repeated start answers 200 with the same Location.
    status, _, again = gateway.send("POST", f"{base_path}/sessions", demo["user"], start)
    assert (status, again["Location"]) == (200, location)


def test_a_server_made_id_is_located_under_the_stage_too(deployed, demo):
    gateway = deployed(EXECUTE_API_HOST, "/api")
    status, view, headers = gateway.send("POST", "/api/sessions", demo["user"], {"advisor_id": demo["advisor"]})
    assert status == 201, view
    assert headers["Location"] == f"/api/sessions/{view['session_id']}"
    assert gateway.send("GET", headers["Location"], demo["user"])[0] == 200


@pytest.mark.parametrize(
    "context_path",
    [None, 42, "//evil.example/sessions", "/api/../sessions", "/api/other", "https://evil.example/sessions"],
)
def test_a_context_path_that_does_not_fit_gives_the_bare_location_not_an_error(deployed, demo, context_path):
    gateway = deployed(EXECUTE_API_HOST, "/api")
    event = gateway.event("POST", "/api/sessions", demo["user"], {"advisor_id": demo["advisor"], "session_id": SID})
    if context_path is None:
        del event["requestContext"]["path"]
    else:
        event["requestContext"]["path"] = context_path

    answer = app(event, lambda_context())

    assert answer["statusCode"] == 201, answer["body"]
    assert answer["headers"]["Location"] == f"/sessions/{SID}"


# ---- the local stage: at the root ------------------------------------------------------------


def test_the_local_location_stays_at_the_root_and_can_be_followed_in_process(api, demo):
    status, view, headers = api.start(demo["user"], demo["advisor"], session_id=SID)
    assert (status, headers["Location"]) == (201, f"/sessions/{SID}")

    followed = api.client.http.get(headers["Location"], headers=request_headers(demo["user"]))
    assert followed.status_code == 200
    assert json.loads(followed.body)["started_at"] == view["started_at"]


@pytest.fixture
def local_api(moto_server, monkeypatch):
    """The local stage's API server as `make run` builds it, on a free port of 127.0.0.1
    (as in test_local_cors.py)."""
    monkeypatch.setenv("STAGE", "local")
    with serving_api(app) as base:
        yield base


def test_the_local_servers_location_can_be_followed_over_http(local_api):
    add_user("u-local", 10_000)
    add_advisor("a-local", 199)

    started = call("POST", f"{local_api}/sessions", "u-local", body={"advisor_id": "a-local"})
    assert started.status == 201, started.body
    location = started.headers["Location"]
    assert location == f"/sessions/{started.body['session_id']}"

    polled = call("GET", f"{local_api}{location}", "u-local")
    assert (polled.status, polled.body["session_id"]) == (200, started.body["session_id"])
    ended = call("POST", f"{local_api}{location}/end", "u-local")
    assert (ended.status, ended.body["status"]) == (200, "ended")
