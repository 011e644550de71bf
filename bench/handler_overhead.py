"""Handler overhead: a poll through the Chalice app (routing, identity, validation, the view,
logging middleware) vs the bare DynamoDB call it makes, on the same in-process moto backend.
Goal: ratio <= 1.15 (issue 17; it was 1.19 before the request path was profiled and cut)."""

import json

from bench.common import median, ratio, table, timed
from chalicelib.api import dependencies
from chalicelib.settings import current
from harness.dynamo import add_advisor, add_user, fresh_tables


def run(quick: bool = False) -> dict:
    from chalice.test import Client
    from moto import mock_aws

    from app import app

    repeat = 30 if quick else 300
    with mock_aws():
        fresh_tables()
        add_user("bench-user", 100_000)
        add_advisor("bench-advisor", 199)
        with Client(app, stage_name="local") as client:
            headers = {"X-User-Id": "bench-user", "Content-Type": "application/json"}
            created = client.http.post("/sessions", headers=headers, body=json.dumps({"advisor_id": "bench-advisor"}))
            sid = json.loads(created.body)["session_id"]
            settings = current()
            raw = dependencies.store().connection.client
            # The poll's own read: the session and the balance as one snapshot.
            items = [
                {"Get": {"TableName": settings.sessions_table, "Key": {"session_id": {"S": sid}}}},
                {"Get": {"TableName": settings.accounts_table, "Key": {"user_id": {"S": "bench-user"}}}},
            ]

            def through_app():
                assert client.http.get(f"/sessions/{sid}", headers=headers).status_code == 200

            def bare():
                raw.transact_get_items(TransactItems=items)

            for fn in (through_app, bare):  # warm both paths
                timed(fn, 5)
            app_s, bare_s = [], []
            for _ in range(repeat):  # interleaved, so machine noise hits both alike
                app_s += timed(through_app, 1)
                bare_s += timed(bare, 1)
    result = {
        "repeat": repeat,
        "poll_through_app_ms": median(app_s) * 1000,
        "bare_read_ms": median(bare_s) * 1000,
    }
    result["ratio"] = ratio(result["poll_through_app_ms"], result["bare_read_ms"])
    print(
        table(
            f"handler overhead: median of {repeat} polls, in-process moto",
            ["path", "ms"],
            [
                ["poll through the Chalice app", result["poll_through_app_ms"]],
                ["bare TransactGetItems", result["bare_read_ms"]],
                ["ratio (goal <= 1.15)", result["ratio"]],
            ],
        )
    )
    return result


if __name__ == "__main__":
    run()
