"""The race explorer over the interleavings real DynamoDB allows (harness/explorer.py).

One advisor, two users; the first user also has an active session of the previous release
(schema 1, not yet upgraded), the second one a session already running. Hypothesis picks a
handful of operations (starts, polls by either party, ends by either party, billing runs, the
backfill's upgrade), runs them all at once, and chooses at every DynamoDB request which one
goes on and how far the clock moves. After every step the tables must hold the contract's invariants;
at the end, every view must fit the timer rules. `make explore` runs it with many more
examples (EXPLORE_EXAMPLES).
"""

import os
from collections import defaultdict
from typing import Dict, List

import boto3
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib.domain.errors import DomainError, ServiceUnavailable
from chalicelib.domain.validation import parse_start_request
from chalicelib.legacy import upgrade as legacy
from chalicelib.services.billing import RunReport, bill_session
from chalicelib.services.end import end_session
from chalicelib.services.poll import poll_session
from chalicelib.services.start import start_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.clock import START_MS
from harness.dynamo import fresh_tables
from harness.explorer import Explorer, Operation
from harness.legacy import schema1_item, seconds

RATE = 100
ADVISOR = "a-adv"
BALANCES = {"u-one": 3 * RATE, "u-two": 4 * RATE}
LEGACY = "legacy-one"  # u-one's schema-1 session, started 100 s before the explorer's clock
LIVE = "live-two-001"  # u-two's session, started 30 s before: races need no start to find it
SESSIONS = {"x-one-0001": "u-one", "y-one-0001": "u-one", "x-two-0001": "u-two", LEGACY: "u-one", LIVE: "u-two"}
STARTS = [sid for sid in SESSIONS if sid not in (LEGACY, LIVE)]
# Small moves keep operations interleaved within one instant; the big ones cross minutes,
# billing runs and credit caps.
CLOCK_MOVES = [0, 1, 250, 20_000, 61_000]
EXAMPLES = int(os.environ.get("EXPLORE_EXAMPLES", "120"))
# Shrinking a failing schedule can take minutes; EXPLORE_SHRINK=0 prints the first one found.
PHASES = [p for p in Phase if os.environ.get("EXPLORE_SHRINK", "1") == "1" or p is not Phase.shrink]

MENU = (
    [("start", SESSIONS[sid], sid) for sid in STARTS]
    + [(verb, who, sid) for verb in ("poll", "end") for sid in SESSIONS for who in (SESSIONS[sid], ADVISOR)]
    + [("bill", None, None), ("backfill", None, LEGACY)]
)


def _seed(client, store: DynamoStore) -> None:
    for user, balance in BALANCES.items():
        client.put_item(
            TableName="accounts", Item={"user_id": {"S": user}, "balance": {"N": str(balance)}, "debited": {"N": "0"}}
        )
    client.put_item(TableName="advisors", Item={"advisor_id": {"S": ADVISOR}, "rate_per_minute": {"N": str(RATE)}})
    client.put_item(
        TableName="sessions",
        Item=schema1_item(LEGACY, "u-one", ADVISOR, rate=RATE, created_at=seconds(START_MS - 100_000)),
    )
    start_session(
        store, lambda: START_MS - 30_000, "u-two", parse_start_request({"advisor_id": ADVISOR, "session_id": LIVE})
    )


def _empty(client) -> None:
    for table, keys in (
        ("sessions", ["session_id"]),
        ("accounts", ["user_id"]),
        ("advisors", ["advisor_id"]),
        ("ledger", ["session_id", "first_minute"]),
    ):
        for item in client.scan(TableName=table)["Items"]:
            client.delete_item(TableName=table, Key={k: item[k] for k in keys})


def _operation(store: DynamoStore, explorer: Explorer, index: int, verb: str, who, sid) -> Operation:
    clock = explorer.clock
    if verb == "start":

        def call():
            request = parse_start_request({"advisor_id": ADVISOR, "session_id": sid})
            return start_session(store, clock, who, request).view
    elif verb == "poll":

        def call():
            return poll_session(store, clock, who, sid)
    elif verb == "end":

        def call():
            return end_session(store, clock, who, sid)
    elif verb == "bill":

        def call():
            for shard in range(store.settings.active_shards):
                for session in store.active_sessions(shard):
                    bill_session(store, clock, session, RunReport())
    else:

        def call():
            session = store.session(sid)
            if session is not None and session.is_legacy_unupgraded:
                legacy.upgrade(store, session, clock)

    return Operation(f"{index}:{verb}:{who or ''}:{sid or ''}", call)


class Tables:
    """The invariants that must hold between any two steps, read straight from the tables."""

    def __init__(self, client):
        self.client = client
        # Users seen with two active sessions at once. Only the upgrade window allows it (a
        # start beside a schema-1 session nobody has touched yet, which counts from its
        # upgrade on): both then draw on one balance, so one's charges lower the other's cap.
        self.shared_balance: set = set()

    def _all(self, table: str) -> List[dict]:
        return self.client.scan(TableName=table, ConsistentRead=True)["Items"]

    def check(self) -> None:
        sessions = {i["session_id"]["S"]: i for i in self._all("sessions")}
        accounts = {i["user_id"]["S"]: i for i in self._all("accounts")}
        ledger = self._all("ledger")
        by_user, by_session = defaultdict(int), defaultdict(int)
        for charge in ledger:
            by_user[charge["user_id"]["S"]] += int(charge["amount"]["N"])
            by_session[charge["session_id"]["S"]] += int(charge["amount"]["N"])
        active_by_user = defaultdict(set)
        for sid, s in sessions.items():
            if s["status"]["S"] == "active":
                active_by_user[s["user_id"]["S"]].add(sid)
        self.shared_balance |= {user for user, active in active_by_user.items() if len(active) > 1}
        for user, account in accounts.items():
            balance = int(account["balance"]["N"]) if "balance" in account else 0
            assert balance >= 0, f"{user}: negative balance {balance}"
            assert balance == BALANCES.get(user, 0) - by_user[user], f"{user}: balance {balance} is not the ledger's"
            markers = set(account.get("active_sessions", {}).get("SS", []))
            if "active_session_id" in account:
                markers.add(account["active_session_id"]["S"])
            for marker in markers:
                named = sessions.get(marker, {})
                assert named.get("status", {}).get("S") == "active", (
                    f"{user}: marker names {marker}, which is not active"
                )
            upgraded_active = {
                sid
                for sid, s in sessions.items()
                if s["user_id"]["S"] == user and s["status"]["S"] == "active" and "schema_version" in s
            }
            assert upgraded_active <= markers, f"{user}: active sessions {upgraded_active - markers} do not count"
        for sid, s in sessions.items():
            charged = int(s.get("charged", {}).get("N", "0"))
            before = int(s.get("legacy_charged", {}).get("N", "0")) if "schema_version" in s else charged
            assert charged == before + by_session[sid], f"{sid}: charged {charged} is not its ledger's"


def _check_views(operations: List[Operation], shared_balance: set) -> None:
    """Timer rule 3 for every pair of views in real-time order, and no view ahead of the
    final one; not for a user in the upgrade window (see Tables.shared_balance)."""
    views: Dict[str, list] = defaultdict(list)
    for op in operations:
        if op.error is not None and (not isinstance(op.error, DomainError) or isinstance(op.error, ServiceUnavailable)):
            raise AssertionError(f"{op.label} failed (a 5xx):\n{op.trace}")
        if isinstance(op.result, dict) and op.result.get("user_id") not in shared_balance:
            views[op.result["session_id"]].append(op)
    for sid, seen in views.items():
        for earlier in seen:
            for later in seen:
                if earlier.done_step < later.sent_step:
                    assert later.result["elapsed_seconds"] >= earlier.result["elapsed_seconds"], (
                        f"{sid}: elapsed went back from {earlier.result['elapsed_seconds']} ({earlier.label}) "
                        f"to {later.result['elapsed_seconds']} ({later.label})"
                    )
        final = [op.result["elapsed_seconds"] for op in seen if op.result["status"] == "ended"]
        if final:
            most = max(op.result["elapsed_seconds"] for op in seen)
            assert most <= min(final), f"{sid}: a view showed {most} s, more than its final {min(final)} s"


def test_interleavings_keep_the_invariants(monkeypatch):
    monkeypatch.setenv("ACTIVE_SHARDS", "1")
    with mock_aws():
        client = fresh_tables()
        store = DynamoStore(current())
        raw = boto3.client("dynamodb", region_name="us-east-1")

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize="EXPLORE_EXAMPLES" not in os.environ,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=PHASES,
        )
        @given(data=st.data(), picked=st.lists(st.sampled_from(MENU), min_size=2, max_size=7))
        def explore(data, picked):
            _empty(client)
            _seed(client, store)
            tables = Tables(raw)
            explorer = Explorer(START_MS, choose=_sticky(data), advance=lambda: data.draw(st.sampled_from(CLOCK_MOVES)))
            operations = [_operation(store, explorer, i, *p) for i, p in enumerate(picked)]
            try:
                with explorer.at_client_boundary():
                    explorer.run(operations, after_step=tables.check)
                _check_views(operations, tables.shared_balance)
            finally:
                note("schedule:\n" + "\n".join(explorer.log))
                note("results:\n" + "\n".join(f"{op.label} -> {_outcome(op)}" for op in operations))

        explore()


def _sticky(data):
    """Mostly let the running operation go on, sometimes switch: races need one operation to
    run several requests while another waits in the middle of its own, which uniform picks
    at every step make rare."""
    last = []

    def choose(labels):
        if last and last[-1] in labels and data.draw(st.integers(0, 3)) != 0:
            return last[-1]
        last.append(data.draw(st.sampled_from(labels)))
        return last[-1]

    return choose


def _outcome(op: Operation) -> str:
    if op.error is not None:
        return f"{type(op.error).__name__}: {op.error}"
    if isinstance(op.result, dict):
        r = op.result
        return f"{r['status']} elapsed={r['elapsed_seconds']} billed={r['billed_minutes']} state={r['timer']['state']}"
    return "ok"
