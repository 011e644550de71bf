"""DynamoDB throttling or failing: 503 with Retry-After, nothing half written, a retry works."""

import pytest

from harness.dynamo import active_sessions_of, all_sessions, balance_of, ledger_of, session_item
from harness.faults import INTERNAL, PROVISIONED, THROTTLED, TIMEOUT, failing


@pytest.mark.parametrize("code", [THROTTLED, PROVISIONED, INTERNAL, TIMEOUT])
@pytest.mark.parametrize("operation", ["BatchGetItem", "TransactWriteItems"])
def test_start_fails_cleanly_and_a_retry_succeeds(api, demo, monkeypatch, operation, code):
    with failing(monkeypatch, operation, code):
        status, body, headers = api.start(demo["user"], demo["advisor"], session_id="fault-001")
    assert status == 503
    assert body["error"] == "service_unavailable"
    assert int(headers["Retry-After"]) >= 1
    assert all_sessions() == []
    assert active_sessions_of(demo["user"]) == set()

    status, view, _ = api.start(demo["user"], demo["advisor"], session_id="fault-001")
    assert status == 201


@pytest.mark.parametrize("operation", ["TransactGetItems", "TransactWriteItems"])
def test_end_fails_cleanly_and_a_retry_charges_once(api, demo, clock, monkeypatch, operation):
    api.start(demo["user"], demo["advisor"], session_id="fault-002")
    clock.advance(seconds=90)
    with failing(monkeypatch, operation, THROTTLED):
        status, _, headers = api.end(demo["user"], "fault-002")
    assert status == 503 and "Retry-After" in headers
    assert session_item("fault-002").status == "active"
    assert balance_of(demo["user"]) == 10_000
    assert ledger_of("fault-002") == []

    status, view, _ = api.end(demo["user"], "fault-002")
    assert status == 200 and view["charged"] == 2 * 199
    assert balance_of(demo["user"]) == 10_000 - 2 * 199


def test_poll_fails_cleanly(api, demo, monkeypatch):
    api.start(demo["user"], demo["advisor"], session_id="fault-003")
    with failing(monkeypatch, "TransactGetItems", INTERNAL):
        status, body, headers = api.poll(demo["user"], "fault-003")
    assert status == 503 and body["error"] == "service_unavailable"


def test_a_transient_throttle_is_absorbed_by_botocore_retries(api, demo, monkeypatch):
    with failing(monkeypatch, "TransactWriteItems", THROTTLED, times=1) as failures:
        status, _, _ = api.start(demo["user"], demo["advisor"], session_id="fault-004")
    assert failures == ["TransactWriteItems"]
    assert status in (201, 503)  # botocore may or may not retry an injected error; never a 500
