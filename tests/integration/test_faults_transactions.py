"""Transactions that do not simply fail: cancelled by a TransactionConflict (another
transaction touched the same item), and committed but with the reply lost (a timeout after
the write landed). The client may see an error; it never sees a lost or a doubled charge."""

import contextlib

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from harness.billing import books_problems
from harness.dynamo import active_sessions_of, all_sessions, balance_of, ledger_of, session_item
from harness.faults import TIMEOUT, failing_call

SID = "tx-fault-0001"
CONFLICT = "TransactionConflict"


@contextlib.contextmanager
def conflicting_transactions(monkeypatch, times: int):
    """The next `times` TransactWriteItems are cancelled as DynamoDB cancels a transaction that
    collided with another one: TransactionCanceledException, one reason per action."""
    original = BaseClient._make_api_call
    cancelled = []

    def maybe_cancel(client, operation_name, params):
        if operation_name != "TransactWriteItems" or len(cancelled) >= times:
            return original(client, operation_name, params)
        reasons = [{"Code": CONFLICT, "Message": "Transaction is ongoing for the item"}]
        reasons += [{"Code": "None"}] * (len(params["TransactItems"]) - 1)
        cancelled.append(params)
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": reasons,
            },
            operation_name,
        )

    monkeypatch.setattr(BaseClient, "_make_api_call", maybe_cancel)
    yield cancelled
    monkeypatch.setattr(BaseClient, "_make_api_call", original)


def assert_books_reconcile(demo, clock) -> None:
    assert books_problems({demo["user"]: demo["balance"], demo["other"]: demo["balance"]}, clock()) == []


def without_server_time(view: dict) -> dict:
    return {name: value for name, value in view.items() if name != "server_time"}


# ---- cancelled by a conflict ---------------------------------------------------------------


def test_a_start_cancelled_by_a_conflict_is_503_writes_nothing_and_a_retry_starts(api, demo, clock, monkeypatch):
    with conflicting_transactions(monkeypatch, times=1) as cancelled:
        status, body, headers = api.start(demo["user"], demo["advisor"], session_id=SID)
    assert len(cancelled) == 1
    assert (status, body["error"]) == (503, "service_unavailable") and int(headers["Retry-After"]) >= 1
    assert all_sessions() == [] and active_sessions_of(demo["user"]) == set()

    status, view, _ = api.start(demo["user"], demo["advisor"], session_id=SID)
    assert status == 201 and view["session_id"] == SID
    assert_books_reconcile(demo, clock)


def test_an_end_cancelled_once_by_a_conflict_rereads_and_charges_once(api, demo, clock, monkeypatch):
    api.start(demo["user"], demo["advisor"], session_id=SID)
    clock.advance(seconds=125)
    with conflicting_transactions(monkeypatch, times=1) as cancelled:
        status, view, _ = api.end(demo["user"], SID)
    assert len(cancelled) == 1
    assert status == 200 and view["status"] == "ended"
    assert view["charged"] == 3 * demo["rate"] and view["balance"] == demo["balance"] - 3 * demo["rate"]
    assert [int(item.amount) for item in ledger_of(SID)] == [3 * demo["rate"]]
    assert balance_of(demo["user"]) == demo["balance"] - 3 * demo["rate"]
    assert_books_reconcile(demo, clock)


def test_an_end_that_keeps_conflicting_is_503_writes_nothing_and_a_retry_ends(api, demo, clock, monkeypatch):
    api.start(demo["user"], demo["advisor"], session_id=SID)
    clock.advance(seconds=61)
    with conflicting_transactions(monkeypatch, times=10**6) as cancelled:
        status, body, headers = api.end(demo["user"], SID)
    assert len(cancelled) >= 2  # it re-read and tried again before giving up
    assert (status, body["error"]) == (503, "service_unavailable") and int(headers["Retry-After"]) >= 1
    assert session_item(SID).status == "active" and ledger_of(SID) == []
    assert balance_of(demo["user"]) == demo["balance"]

    status, view, _ = api.end(demo["user"], SID)
    assert status == 200 and view["charged"] == 2 * demo["rate"]
    assert_books_reconcile(demo, clock)


# ---- committed, reply lost -----------------------------------------------------------------


def _losing_the_commits_reply(monkeypatch):
    return failing_call(
        monkeypatch, 0, TIMEOUT, after=True, matches=lambda operation, _: operation == "TransactWriteItems"
    )


def test_a_start_whose_reply_is_lost_is_found_by_its_retry_with_the_timer_untouched(api, demo, clock, monkeypatch):
    with _losing_the_commits_reply(monkeypatch):
        status, body, headers = api.start(demo["user"], demo["advisor"], session_id=SID)
    assert status == 503 and "Retry-After" in headers
    committed = session_item(SID)  # the client saw an error, but the transaction committed
    assert committed.status == "active" and active_sessions_of(demo["user"]) == {SID}

    clock.advance(ms=2_500)
    status, view, headers = api.start(demo["user"], demo["advisor"], session_id=SID)
    assert status == 200 and headers["Location"] == f"/sessions/{SID}"
    assert view["session_id"] == SID and view["started_at"] == committed.started_at
    assert view["elapsed_seconds"] == 2.5  # the timer ran from the commit, not from the retry
    assert len(all_sessions()) == 1

    # A page that sent no session_id learns which session is its own.
    status, body, _ = api.start(demo["user"], demo["advisor"])
    assert status == 409 and body["active_session_id"] == SID
    assert_books_reconcile(demo, clock)


def test_an_end_whose_reply_is_lost_is_charged_once_and_its_retry_shows_the_same_end(api, demo, clock, monkeypatch):
    api.start(demo["user"], demo["advisor"], session_id=SID)
    clock.advance(seconds=61)
    ended_at_ms = clock.now_ms
    with _losing_the_commits_reply(monkeypatch):
        status, _, headers = api.end(demo["user"], SID)
    assert status == 503 and "Retry-After" in headers
    assert session_item(SID).status == "ended"

    clock.advance(seconds=30)  # the retry comes later; the end stays where it was committed
    status, view, _ = api.end(demo["user"], SID)
    assert status == 200 and view["status"] == "ended" and view["end_reason"] == "user"
    assert view["ended_at"] == session_item(SID).ended_at and int(session_item(SID).ended_at_ms) == ended_at_ms
    assert view["elapsed_seconds"] == 61 and view["charged"] == 2 * demo["rate"]
    assert view["balance"] == demo["balance"] - 2 * demo["rate"]
    assert [int(item.amount) for item in ledger_of(SID)] == [2 * demo["rate"]]
    clock.advance(seconds=3600)
    status, again, _ = api.end(demo["user"], SID)
    assert status == 200 and without_server_time(again) == without_server_time(view)
    assert_books_reconcile(demo, clock)
