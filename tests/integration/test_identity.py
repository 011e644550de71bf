"""Caller identity: X-User-Id only in the local stage, Cognito's sub claim elsewhere."""

import json

from chalice.test import Client

from app import app
from harness.dynamo import all_sessions


def test_no_identity_is_401(api, demo):
    status, body, _ = api.start(None, demo["advisor"])
    assert status == 401
    assert body["error"] == "unauthenticated"
    assert api.poll(None, "whatever-1")[0] == 401


def test_malformed_identity_is_401(api, demo):
    assert api.start("bad id with spaces", demo["advisor"])[0] == 401


def test_the_local_header_is_inert_in_deployed_stages(dynamo, demo):
    for stage in ("dev", "prod"):
        with Client(app, stage_name=stage) as client:
            response = client.http.post(
                "/sessions",
                headers={"X-User-Id": demo["user"], "Content-Type": "application/json"},
                body=json.dumps({"advisor_id": demo["advisor"]}),
            )
        assert response.status_code == 401, stage
        assert json.loads(response.body)["error"] == "unauthenticated"
    assert all_sessions() == []
