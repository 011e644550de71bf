"""Concurrent and retried starts against moto's server (serialised) with real threads."""

from concurrent.futures import ThreadPoolExecutor

from chalicelib.domain.errors import ActiveSessionExists
from chalicelib.domain.validation import StartRequest
from chalicelib.services.start import start_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.clock import FakeClock
from harness.dynamo import active_sessions_of, add_advisor, add_user, all_sessions


def _start(store, clock, user, session_id):
    try:
        return start_session(store, clock, user, StartRequest(advisor_id="a-1", session_id=session_id))
    except ActiveSessionExists as refused:
        return refused


def test_identical_starts_racing_create_one_session_with_one_start(moto_server):
    add_user("u-1", 10_000)
    add_advisor("a-1", 100)
    store, clock = DynamoStore(current()), FakeClock()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _start(store, clock, "u-1", "same-page-1"), range(16)))

    assert sum(1 for r in results if r.created) == 1
    assert {r.view["started_at"] for r in results} == {results[0].view["started_at"]}
    assert len(all_sessions()) == 1


def test_different_starts_racing_leave_one_active_session(moto_server):
    add_user("u-2", 10_000)
    add_advisor("a-1", 100)
    store, clock = DynamoStore(current()), FakeClock()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _start(store, clock, "u-2", f"page-{i:04d}"), range(16)))

    created = [r for r in results if not isinstance(r, ActiveSessionExists)]
    refused = [r for r in results if isinstance(r, ActiveSessionExists)]
    assert len(created) == 1 and len(refused) == 15
    winner = created[0].view["session_id"]
    assert {r.active_session_id for r in refused} == {winner}
    assert [s.session_id for s in all_sessions()] == [winner]
    assert active_sessions_of("u-2") == {winner}
