"""DynamoDB requests per operation, counted on the wire (botocore), not timed.

Start, poll and end go through the Chalice app in-process; the billing figures come from one
run over the active index, split into the shard queries (fixed per run) and the requests
spent per session owing a new minute and per session owing nothing. The contract's targets: start 2,
poll 1, end <= 3, billing 1 per session owing a minute and 0 per session owing nothing.
"""

import os
from collections import Counter

from bench.common import table
from chalicelib.api import dependencies
from chalicelib.local.moto_server import LocalDynamo
from chalicelib.services.billing import RunReport, bill_session, run_billing
from chalicelib.settings import current
from harness.client import InProcessClient
from harness.clock import FakeClock
from harness.dynamo import add_advisor, add_user, counting_requests, fresh_tables

GOALS = {"start": 2, "poll": 1, "end": 3, "bill_owing": 1, "bill_not_owing": 0}


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
        clock.advance(seconds=30)
        counter.reset()
        _ok(api.poll("bench-user", sid))
        counts["poll"] = list(counter.calls)

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
    return {"calls": counts, "shards": store.settings.active_shards, "run_report": report.as_dict()}


def run(quick: bool = False) -> dict:
    from chalice.test import Client

    from app import app

    server = LocalDynamo(port=0).start()
    previous = os.environ.get("DYNAMODB_ENDPOINT")
    os.environ["DYNAMODB_ENDPOINT"] = server.endpoint
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
        if previous is None:
            os.environ.pop("DYNAMODB_ENDPOINT", None)
        else:
            os.environ["DYNAMODB_ENDPOINT"] = previous
        server.stop()
    result = {op: len(calls) for op, calls in measured["calls"].items()}
    result["operations"] = {op: dict(Counter(calls)) for op, calls in measured["calls"].items()}
    result["goals"] = GOALS
    result["within_goals"] = all(result[op] <= goal for op, goal in GOALS.items())
    print(
        table(
            "DynamoDB requests per operation (counted)",
            ["operation", "requests", "goal", "calls"],
            [
                [op, result[op], GOALS.get(op, f"= shards ({measured['shards']})"), " ".join(measured["calls"][op])]
                for op in ("start", "poll", "end", "bill_owing", "bill_not_owing")
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
