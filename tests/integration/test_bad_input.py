"""Bad input gets a clear 4xx in the project's error body and changes nothing."""

import pytest

from harness.dynamo import all_sessions, balance_of


@pytest.mark.parametrize(
    "raw, code",
    [
        ("{not json", "invalid_request"),
        ("[1, 2]", "invalid_request"),
        ('"a string"', "invalid_request"),
        ("{}", "invalid_request"),
        ('{"advisor_id": 42}', "invalid_request"),
        ('{"advisor_id": null}', "invalid_request"),
        ('{"advisor_id": ["a-carol"]}', "invalid_request"),
        ('{"advisor_id": ""}', "invalid_request"),
        ('{"advisor_id": "' + "x" * 200 + '"}', "invalid_request"),
        ('{"advisor_id": "a-carol", "session_id": "short"}', "invalid_request"),
        ('{"advisor_id": "a-carol", "session_id": "' + "s" * 65 + '"}', "invalid_request"),
        ('{"advisor_id": "a-carol", "session_id": "has space1"}', "invalid_request"),
        ('{"advisor_id": "a-carol", "session_id": 12345678}', "invalid_request"),
        ('{"advisor_id": "a-carol", "session_id": "../../etc/x"}', "invalid_request"),
        ("[" * 3000 + "]" * 3000, "payload_too_large"),
        ('{"advisor_id": "a-carol", "pad": "' + "p" * 5000 + '"}', "payload_too_large"),
        ("\xff\xfe", "invalid_request"),
    ],
)
def test_bad_start_bodies_are_refused_and_change_nothing(api, demo, raw, code):
    status, body, _ = api.start(demo["user"], raw=raw)
    assert 400 <= status < 500
    assert body["error"] == code
    assert set(body) == {"error", "message"}
    assert all_sessions() == []
    assert balance_of(demo["user"]) == 10_000


def test_deeply_nested_json_within_the_size_limit_is_a_400(api, demo):
    status, body, _ = api.start(demo["user"], raw="[" * 1500 + "]" * 1500)
    assert status == 400


@pytest.mark.parametrize("bad_id", ["a b", "x" * 129, "semi;colon", "quote'"])
def test_bad_path_ids_are_refused(api, demo, bad_id):
    assert api.poll(demo["user"], bad_id)[0] in (400, 404)
    assert api.end(demo["user"], bad_id)[0] in (400, 404)


def test_wrong_media_type_is_reshaped_to_our_error_body(api, demo):
    status, body, _ = api.start(demo["user"], raw="advisor_id=a", headers={"Content-Type": "text/plain"})
    assert status == 415
    assert set(body) == {"error", "message"}
    assert body["error"] == "unsupported_media_type"


def test_wrong_method_is_reshaped_to_our_error_body(api):
    response = api.client.http.delete("/health")
    assert response.status_code == 405
    assert b'"error"' in response.body


def test_health_needs_no_identity(api):
    response = api.client.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok"}
