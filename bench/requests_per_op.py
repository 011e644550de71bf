"""DynamoDB requests per operation, counted on the wire (botocore), not timed.

Start, poll and end go through the Chalice app in-process; the billing figures come from one
run over the active index, split into the shard queries (fixed per run) and the requests
spent per session owing a new minute and per session owing nothing. The contract's targets: start 2,
poll 1 (2 when its heartbeat is due: at most once per SESSION_IDLE_SECONDS / 4), 1.5 on average
over a page polling every 15 s at the default 120 s, end <= 3, billing 1 per session owing a
minute and 0 per session owing nothing.
"""

import os
from collections import Counter

from bench.common import table
from chalicelib.api import dependencies
from chalicelib.domain.presence import DEFAULT_IDLE_SECONDS
from chalicelib.local.moto_server import LocalDynamo
from chalicelib.services.billing import RunReport, bill_session, run_billing
from chalicelib.settings import current
from harness.client import InProcessClient
from harness.clock import FakeClock
from harness.dynamo import add_advisor, add_user, counting_requests, fresh_tables

GOALS = {
    "start": 2,
    "poll": 1,
    "poll_heartbeat": 2,
    "poll_amortised": 1.5,
    "end": 3,
    "bill_owing": 1,
    "bill_not_owing": 0,
}
PAGE_POLL_S = 15
# Ten minutes of a page's polls: the heartbeat's share settles at one write every other poll.
PAGE_POLLS = 40


def _ok(reply):
    assert reply.status < 300, reply
    return reply.body


def _measure(api: InProcessClient, clock) -> dict:
    from chalicelib.store.dynamo import DynamoStore

    counts = {}
    with counting_requests() as counter:
        view = _ok(api.start("bench-user", "bench-advisor"))
        counts["start"] = list(counter.calls)
        sid = view["session_id"]
        clock.advance(seconds=PAGE_POLL_S)
        counter.reset()
        _ok(api.poll("bench-user", sid))
        counts["poll"] = list(counter.calls)  # 15 s after the start: no heartbeat due
        clock.advance(seconds=PAGE_POLL_S)
        counter.reset()
        _ok(api.poll("bench-user", sid))
        counts["poll_heartbeat"] = list(counter.calls)  # 30 s: due
        counter.reset()
        for _ in range(PAGE_POLLS):
            clock.advance(seconds=PAGE_POLL_S)
            _ok(api.poll("bench-user", sid))
        page_calls = list(counter.calls)

        store = DynamoStore(current())
        session = store.session(sid)
        counter.reset()
        bill_session(store, clock, session, RunReport())
        counts["bill_owing"] = list(counter.calls)
        billed = store.session(sid)
        counter.reset()
        bill_session(store, clock, billed, RunReport())
        counts["bill_not_owing"] = list(counter.calls)

        counter.reset()
        report = run_billing(store, clock, remaining_ms=lambda: 60_000, safety_margin_ms=0, workers=4)
        counts["billing_run_queries"] = list(counter.calls)

        clock.advance(seconds=45)
        counter.reset()
        _ok(api.end("bench-user", sid))
        counts["end"] = list(counter.calls)
    return {
        "calls": counts,
        "page_calls": page_calls,
        "shards": store.settings.active_shards,
        "run_report": report.as_dict(),
    }


def run(quick: bool = False) -> dict:
    from chalice.test import Client

    from app import app

    server = LocalDynamo(port=0).start()
    previous = {name: os.environ.get(name) for name in ("DYNAMODB_ENDPOINT", "SESSION_IDLE_SECONDS")}
    os.environ["DYNAMODB_ENDPOINT"] = server.endpoint
    # The heartbeat's share is measured at the default limit, whatever the caller's setting.
    os.environ["SESSION_IDLE_SECONDS"] = str(DEFAULT_IDLE_SECONDS)
    clock, saved_clock = FakeClock(), dependencies.clock
    dependencies.clock = clock
    try:
        server.reset()
        fresh_tables(server.endpoint)
        add_user("bench-user", 100_000)
        add_advisor("bench-advisor", 199)
        with Client(app, stage_name="local") as client:
            measured = _measure(InProcessClient(client), clock)
    finally:
        dependencies.clock = saved_clock
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
    result = {op: len(calls) for op, calls in measured["calls"].items()}
    result["poll_amortised"] = round(len(measured["page_calls"]) / PAGE_POLLS, 3)
    result["operations"] = {op: dict(Counter(calls)) for op, calls in measured["calls"].items()}
    result["goals"] = GOALS
    result["within_goals"] = all(result[op] <= goal for op, goal in GOALS.items())
    print(
        table(
            "DynamoDB requests per operation (counted)",
            ["operation", "requests", "goal", "calls"],
            [
                [op, result[op], GOALS.get(op, f"= shards ({measured['shards']})"), " ".join(measured["calls"][op])]
                for op in ("start", "poll", "poll_heartbeat", "end", "bill_owing", "bill_not_owing")
            ]
            + [
                [
                    f"poll, averaged over {PAGE_POLLS} polls every {PAGE_POLL_S} s",
                    result["poll_amortised"],
                    GOALS["poll_amortised"],
                    " ".join(f"{op} x{n}" for op, n in Counter(measured["page_calls"]).items()),
                ]
            ]
            + [
                [
                    "billing run, index queries",
                    result["billing_run_queries"],
                    f"= shards ({measured['shards']})",
                    "Query x n",
                ]
            ],
        )
    )
    return result


if __name__ == "__main__":
    run()
