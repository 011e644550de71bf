"""The bare stage: bench/stage_vs_bare.py's yardstick. `python -m bench.bare_stage --port P`

The service's start and poll with no framework: `http.server`, one boto3 low-level client made
at start-up (the botocore settings PynamoDB gives ours), and the very DynamoDB requests ours
sends (same operations, expressions, attributes and order; tests/bench/test_stage_vs_bare.py
compares them on moto's recorder). DYNAMODB_ENDPOINT names the DynamoDB; table names as in
chalicelib/settings.py. No validation beyond what keeps it answering: a yardstick, not a second
implementation. It serves the benchmark's users, who hold no session yet when they start.
"""

import argparse
import contextlib
import json
import os
import signal
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.domain.instants import day_of, iso_ms  # stdlib only

SESSIONS = os.environ.get("SESSIONS_TABLE", "sessions")
ACCOUNTS = os.environ.get("ACCOUNTS_TABLE", "accounts")
ADVISORS = os.environ.get("ADVISORS_TABLE", "advisors")
HASH_KEYS = {SESSIONS: "session_id", ACCOUNTS: "user_id", ADVISORS: "advisor_id"}
SHARDS = int(os.environ.get("ACTIVE_SHARDS", "16"))
IDLE_S = int(os.environ.get("SESSION_IDLE_SECONDS") or 120)
# chalicelib/store/models.py's TableMeta and PynamoDB's own client settings
CONFIG = Config(
    parameter_validation=False,
    connect_timeout=1,
    read_timeout=2,
    max_pool_connections=10,
    retries={"total_max_attempts": 2, "mode": "standard"},
)
DB = boto3.client(
    "dynamodb",
    endpoint_url=os.environ.get("DYNAMODB_ENDPOINT"),
    region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    config=CONFIG,
)


def clock() -> int:
    return time.time_ns() // 1_000_000


def key(table: str, value: str) -> dict:
    return {"TableName": table, "Key": {HASH_KEYS[table]: {"S": value}}}


def view(item: dict, account: dict, now: int) -> dict:
    """docs/contract.md's session view, for an active session."""
    started, rate = int(item["started_at_ms"]["N"]), int(item["rate_per_minute"]["N"])
    balance, billed = int(account.get("balance", {"N": "0"})["N"]), int(item["billed_minutes"]["N"])
    cap = (billed + balance // rate) * 60_000
    elapsed = min(max(0, now - started), cap)
    return {
        "session_id": item["session_id"]["S"],
        "user_id": item["user_id"]["S"],
        "advisor_id": item["advisor_id"]["S"],
        "status": item["status"]["S"],
        "started_at": iso_ms(started),
        "ended_at": None,
        "end_reason": None,
        "server_time": iso_ms(now),
        "elapsed_seconds": round(elapsed / 1000, 3),
        "rate_per_minute": rate,
        "billed_minutes": billed,
        "charged": int(item["charged"]["N"]),
        "seconds_remaining": round((cap - elapsed) / 1000, 3),
        "idle_timeout_seconds": IDLE_S,
        "timer": {"state": "running" if cap > elapsed else "stopped", "initialized": item["timer_init"]["S"]},
        "balance": balance,
    }


def start(user: str, body: dict) -> tuple:
    now = clock()
    sid = body.get("session_id") or uuid.uuid4().hex
    wanted = {SESSIONS: body.get("session_id"), ACCOUNTS: user, ADVISORS: body["advisor_id"]}
    keys = {t: {"Keys": [key(t, v)["Key"]], "ConsistentRead": True} for t, v in wanted.items() if v}
    got = DB.batch_get_item(RequestItems=keys)["Responses"]
    account, advisor = (got.get(t, [{}])[0] for t in (ACCOUNTS, ADVISORS))
    rate = advisor["rate_per_minute"]
    item = {
        "session_id": {"S": sid},
        "active_shard": {"N": str(zlib.crc32(sid.encode()) % SHARDS)},
        "advisor_id": {"S": body["advisor_id"]},
        "billed_minutes": {"N": "0"},
        "charged": {"N": "0"},
        "rate_per_minute": rate,
        "schema_version": {"N": "2"},
        "started_at": {"S": iso_ms(now)},
        "started_at_ms": {"N": str(now)},
        "started_day": {"S": day_of(now)},
        "status": {"S": "active"},
        "timer_init": {"S": "at_creation"},
        "user_id": {"S": user},
    }
    put = {
        "TableName": SESSIONS,
        "Item": item,
        "ConditionExpression": "attribute_not_exists (#0)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#0": "session_id"},
    }
    update = {
        **key(ACCOUNTS, user),
        "ConditionExpression": "((attribute_not_exists (#0) AND attribute_not_exists (#1)) AND #2 >= :0)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "UpdateExpression": "SET #0 = :1, #3 = :2",
        "ExpressionAttributeNames": {
            "#0": "active_sessions",
            "#1": "active_session_id",
            "#2": "balance",
            "#3": f"last_seen:{sid}",
        },
        # Seen when the write is sent (services/start.py)
        "ExpressionAttributeValues": {":0": rate, ":1": {"SS": [sid]}, ":2": {"N": str(clock())}},
    }
    try:
        DB.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}], ReturnConsumedCapacity="TOTAL")
    except ClientError as error:
        return 409, {"error": "refused", "message": str(error)}
    return 201, view(item, account, clock())


def poll(user: str, sid: str) -> tuple:
    now = clock()
    got = DB.transact_get_items(TransactItems=[{"Get": key(SESSIONS, sid)}, {"Get": key(ACCOUNTS, user)}])
    item, account = (r.get("Item", {}) for r in got["Responses"])
    if item.get("user_id", {}).get("S") != user:
        return 404, {"error": "session_not_found", "message": "no such session"}
    seen = account.get(f"last_seen:{sid}")
    if seen and now - int(seen["N"]) >= IDLE_S * 1000 // 4:  # the heartbeat (services/poll.py)
        with contextlib.suppress(ClientError):  # as ours, its failure never fails the poll
            DB.update_item(
                **key(ACCOUNTS, user),
                ConditionExpression="((contains (#0, :0) OR #1 = :1) AND #2 = :2)",
                ReturnValues="ALL_NEW",
                UpdateExpression="SET #2 = :3",
                ExpressionAttributeNames={"#0": "active_sessions", "#1": "active_session_id", "#2": f"last_seen:{sid}"},
                ExpressionAttributeValues={":0": {"S": sid}, ":1": {"S": sid}, ":2": seen, ":3": {"N": str(now)}},
                ReturnConsumedCapacity="TOTAL",
            )
    return 200, view(item, account, now)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # as chalice local's handler

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()  # as chalice's Response
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == ["health"]:
            self._answer(200, {"status": "ok"})
        elif len(parts) == 2 and parts[0] == "sessions":
            self._answer(*poll(self.headers["X-User-Id"], parts[1]))
        else:
            self._answer(404, {"error": "not_found", "message": "no such route"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/sessions":
            self._answer(*start(self.headers["X-User-Id"], body))
        else:
            self._answer(404, {"error": "not_found", "message": "no such route"})

    def log_message(self, format, *args):  # noqa: A002 - quiet, as the local stage's API server
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # as the local stage's API server (chalicelib/local/api_server.py)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="bare", daemon=True).start()
    print(f"bare stage: http://localhost:{port} (DynamoDB {DB.meta.endpoint_url})", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
