"""One test per race of docs/concurrency.md, each forcing the interleaving that broke it.

The scripted ones run the operations through the race explorer (harness/explorer.py)
with a fixed schedule instead of a searched one: each names the stops in the order they
must be let go, and the clock moves one second at every stop.
"""

from typing import List

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.validation import parse_start_request
from chalicelib.services.billing import RunReport, bill_session
from chalicelib.services.end import end_session
from chalicelib.services.poll import poll_session
from chalicelib.services.start import start_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from chalicelib.store.failures import WORST_REQUEST_MS, deadline
from chalicelib.store.models import AccountItem
from harness.dynamo import active_sessions_of, add_advisor, add_user, counting_requests
from harness.explorer import Explorer, Operation
from harness.legacy import put_legacy, schema1_item, seconds

RATE = 100


def scripted(*steps: str):
    """A schedule: each step is the prefix of the label to let go next (skipped if that
    operation has ended), or `prefix*` to let it go until it ends; once the script is used
    up, the first waiting operation goes on until all are done."""
    script: List[str] = list(steps)

    def choose(labels):
        while script:
            wanted = script[0].rstrip("*")
            matching = [label for label in labels if label.startswith(wanted)]
            if not script[0].endswith("*") or not matching:
                script.pop(0)
            if matching:
                return matching[0]
        return labels[0]

    return choose


def run(store, schedule, calls: dict, start_ms: int) -> dict:
    explorer = Explorer(start_ms, choose=schedule, advance=lambda: 1000)
    operations = [Operation(label, call(explorer.clock)) for label, call in calls.items()]
    with explorer.at_client_boundary():
        explorer.run(operations)
    for op in operations:
        if op.error is not None:
            raise op.error
    return {op.label: op.result for op in operations}


def bill_all(store, clock) -> None:
    for shard in range(store.settings.active_shards):
        for session in store.active_sessions(shard):
            bill_session(store, clock, session, RunReport())


def start(store, clock, user, session_id, advisor="a-adv"):
    return start_session(store, clock, user, parse_start_request({"advisor_id": advisor, "session_id": session_id}))


# ---- 1. a poll's credit cap from one snapshot ------------------------------------------


def _billing_lands_inside_a_poll(store, clock, caller: str) -> tuple:
    add_user("u-cap", 3 * RATE)
    add_advisor("a-adv", RATE)
    start(store, clock, "u-cap", "cap-00001")
    clock.advance(seconds=150)
    before = poll_session(store, clock, caller, "cap-00001")["elapsed_seconds"]
    # The poll makes its first read, then a billing run charges all three minutes owed, then
    # the poll goes on. Split into per-item reads, the session would be read before the
    # charge and the balance after it: a cap of 0 minutes.
    results = run(
        store,
        scripted("poll", "poll", "poll", "bill*"),
        {
            "poll": lambda c: lambda: poll_session(store, c, caller, "cap-00001"),
            "bill": lambda c: lambda: bill_all(store, c),
        },
        clock(),
    )
    return before, results["poll"]["elapsed_seconds"]


def test_a_charge_landing_inside_the_users_poll_does_not_move_the_timer_back(store, clock):
    before, after = _billing_lands_inside_a_poll(store, clock, "u-cap")
    assert (before, after >= before) == (150, True), (before, after)


def test_a_charge_landing_between_the_advisors_two_reads_does_not_move_the_timer_back(store, clock):
    before, after = _billing_lands_inside_a_poll(store, clock, "a-adv")
    assert (before, after >= before) == (150, True), (before, after)


# ---- 2. an upgraded schema-1 session keeps counting ---------------------------------------


def _legacy_session(user: str, session_id: str, started_ms: int) -> None:
    put_legacy([schema1_item(session_id, user, "a-adv", rate=RATE, created_at=seconds(started_ms))])


def test_an_upgraded_session_counts_after_the_session_started_beside_it_ends(api, clock):
    add_user("u-two", 100 * RATE)
    add_advisor("a-adv", RATE)
    _legacy_session("u-two", "old-session-l", clock() - 60_000)
    assert api.start("u-two", "a-adv", session_id="new-session-x")[0] == 201  # L does not count yet
    assert api.poll("u-two", "old-session-l")[0] == 200  # upgrades L while X holds the marker
    assert api.end("u-two", "new-session-x")[0] == 200

    status, body, _ = api.start("u-two", "a-adv", session_id="new-session-y")

    assert (status, body["error"], body["active_session_id"]) == (409, "active_session_exists", "old-session-l")
    assert api.end("u-two", "old-session-l")[0] == 200
    assert api.start("u-two", "a-adv", session_id="new-session-y")[0] == 201


# ---- 3. no marker names an ended session ---------------------------------------------------


def test_ending_a_schema1_session_while_another_ends_leaves_no_marker(store, clock):
    add_user("u-three", 100 * RATE)
    add_advisor("a-adv", RATE)
    _legacy_session("u-three", "old-session-l", clock() - 60_000)
    start(store, clock, "u-three", "new-session-x")
    # L's end reads while X is the account's session; X ends; then L's end goes on.
    run(
        store,
        scripted("end-l", "end-l", "end-l", "end-l", "end-x*"),
        {
            "end-l": lambda c: lambda: end_session(store, c, "u-three", "old-session-l"),
            "end-x": lambda c: lambda: end_session(store, c, "u-three", "new-session-x"),
        },
        clock(),
    )
    assert active_sessions_of("u-three") == set()
    assert start(store, clock, "u-three", "new-session-y").created


def test_a_marker_naming_an_ended_session_is_replaced_by_the_next_start(api, clock):
    """Builds before this one could leave one (race 3): the start repairs it, once."""
    add_user("u-four", 100 * RATE)
    add_advisor("a-adv", RATE)
    api.start("u-four", "a-adv", session_id="ended-000001")
    api.end("u-four", "ended-000001")
    AccountItem("u-four").update(actions=[AccountItem.active_session_id.set("ended-000001")])

    with counting_requests() as dynamo_calls:
        status, view, _ = api.start("u-four", "a-adv", session_id="next-0000001")

    assert status == 201, view
    assert dynamo_calls.calls == ["BatchGetItem", "GetItem", "TransactWriteItems"]
    assert active_sessions_of("u-four") == {"next-0000001"}


# ---- 4. no view runs ahead of the final one ------------------------------------------------


def test_an_end_landing_after_a_polls_read_stays_ahead_of_that_poll(store, clock):
    add_user("u-five", 100 * RATE)
    add_advisor("a-adv", RATE)
    start(store, clock, "u-five", "end-race-01")
    clock.advance(seconds=30)
    # The poll reads; the end reads, stamps and commits; the poll goes on a few seconds later.
    results = run(
        store,
        scripted("poll", "poll", "end*"),
        {
            "poll": lambda c: lambda: poll_session(store, c, "u-five", "end-race-01"),
            "end": lambda c: lambda: end_session(store, c, "u-five", "end-race-01"),
        },
        clock(),
    )
    shown, final = results["poll"]["elapsed_seconds"], results["end"]["elapsed_seconds"]
    assert results["poll"]["status"] == "active" and shown <= final, (shown, final)


# ---- 5. retries inside the invocation's time ------------------------------------------------


def test_no_request_starts_that_could_outlive_the_invocation(store, clock, demo):
    start(store, clock, demo["user"], "deadline-01", advisor=demo["advisor"])
    with counting_requests() as dynamo_calls, deadline(lambda: WORST_REQUEST_MS - 1):
        try:
            poll_session(store, clock, demo["user"], "deadline-01")
        except ServiceUnavailable as refused:
            assert refused.retry_after >= 1
        else:
            raise AssertionError("a poll with too little time left was started")
    assert dynamo_calls.calls == []


def test_unprocessed_keys_are_retried_a_bounded_number_of_times_with_backoff(dynamo, demo, monkeypatch):
    from botocore.client import BaseClient

    original, slept = BaseClient._make_api_call, []
    store = DynamoStore(current(), sleep=slept.append)

    def never_processed(client, name, params):
        if name == "BatchGetItem":
            return {"Responses": {}, "UnprocessedKeys": params["RequestItems"]}
        return original(client, name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", never_processed)
    try:
        store.read(user_id=demo["user"], advisor_id=demo["advisor"])
    except ServiceUnavailable:
        pass
    else:
        raise AssertionError("keys never processed must end in 503")
    assert 1 <= len(slept) <= 3 and all(0 <= pause <= 0.2 for pause in slept), slept


def test_the_api_passes_the_lambdas_remaining_time_to_the_store(api, demo, monkeypatch):
    from chalice.local import LambdaContext

    monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: 1_000)
    status, body, headers = api.start(demo["user"], demo["advisor"])
    assert (status, body["error"], headers["Retry-After"]) == (503, "service_unavailable", "1")


# ---- 8. no account item is a balance of 0 ---------------------------------------------------


def test_a_user_without_an_account_item_can_start_a_free_session(api):
    add_advisor("a-free", 0)
    status, view, _ = api.start("u-no-account", "a-free")
    assert (status, view["balance"]) == (201, 0), view
    assert api.start("u-no-account-2", "a-adv-missing")[0] == 404


# ---- 10. the advisor's end of a schema-1 session ------------------------------------------------


def test_the_advisors_end_on_the_first_touch_of_a_schema1_session_takes_three_requests(api, clock):
    add_user("u-six", 100 * RATE)
    add_advisor("a-adv", RATE)
    _legacy_session("u-six", "old-session-6", clock() - 90_000)

    with counting_requests() as dynamo_calls:
        status, view, _ = api.end("a-adv", "old-session-6")

    assert status == 200, view
    assert dynamo_calls.calls == ["TransactGetItems", "TransactGetItems", "TransactWriteItems"]
    assert (view["status"], view["end_reason"], view["billed_minutes"]) == ("ended", "advisor", 2)
    assert view["timer"]["initialized"] == "legacy"
    assert api.poll("u-six", "old-session-6")[1]["elapsed_seconds"] == 90


# ---- found by the explorer: a repeated start shows a snapshot too ---------------------------


def test_a_repeated_start_shows_its_session_from_one_snapshot(store, clock):
    add_user("u-seven", 3 * RATE)
    add_advisor("a-adv", RATE)
    start(store, clock, "u-seven", "repeat-0001")
    clock.advance(seconds=150)
    before = poll_session(store, clock, "u-seven", "repeat-0001")["elapsed_seconds"]
    # The repeat reads the session (active, nothing billed); the advisor's end charges the
    # three minutes and takes the whole balance; then the repeat reads the balance.
    results = run(
        store,
        scripted("repeat", "repeat", "end*"),
        {
            "repeat": lambda c: lambda: start(store, c, "u-seven", "repeat-0001").view,
            "end": lambda c: lambda: end_session(store, c, "a-adv", "repeat-0001"),
        },
        clock(),
    )
    assert results["repeat"]["elapsed_seconds"] >= before == 150, results["repeat"]
