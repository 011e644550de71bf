"""The race explorer over the interleavings real DynamoDB allows (harness/explorer.py).

One advisor, two users; the first user also has an active session of the previous release
(schema 1, not yet upgraded), the second one a session already running. Hypothesis picks a
handful of operations (starts, polls by either party, ends by either party, billing runs, the
backfill's upgrade), runs them all at once, and chooses at every DynamoDB request which one
goes on and how far the clock moves. After every step the tables must hold the contract's invariants;
at the end, every view must fit the timer rules. `make explore` runs it with many more
examples (EXPLORE_EXAMPLES).

Each example also draws an idle limit (SESSION_IDLE_SECONDS, for the store it runs on): short
ones make every user's poll a heartbeat racing billing runs, the advisor's polls and ends that
want to end the session as idle, and the clock can jump onto an idle instant or 1 ms either
side of it. A session is never ended as idle if a heartbeat of its user landed first, and
nothing revives a session after its idle end.
"""

import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Callable, Dict, List, Optional

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
# The clock moved onto the next idle instant of an active session, or 1 ms either side.
EDGE_MOVES = [("idle", 0), ("idle", -1), ("idle", 1)]
# SESSION_IDLE_SECONDS per example. LIVE was last seen 30 s before the explorer's clock: with
# 45 s it goes idle 15 s in and any poll of its user is due; with 120 s it goes idle 90 s in
# and a poll of its user at the first instant is due to the millisecond. A week: never idle.
IDLE_LIMITS = [45, 120, 7 * 24 * 3600]
LAST_SEEN = "last_seen:"
EXAMPLES = int(os.environ.get("EXPLORE_EXAMPLES", "120"))
# Shrinking a failing schedule can take minutes; EXPLORE_SHRINK=0 prints the first one found.
PHASES = [p for p in Phase if os.environ.get("EXPLORE_SHRINK", "1") == "1" or p is not Phase.shrink]

MENU = (
    [("start", SESSIONS[sid], sid) for sid in STARTS]
    + [(verb, who, sid) for verb in ("poll", "end") for sid in SESSIONS for who in (SESSIONS[sid], ADVISOR)]
    + [("bill", None, None), ("backfill", None, LEGACY)]
)
# Half the picks: what races at LIVE's idle instant. Its user's polls (heartbeats when due),
# and what ends it as idle when it finds it past that instant; then its user's next session.
IDLE_MENU = [
    ("poll", "u-two", LIVE),
    ("poll", "u-two", LIVE),
    ("poll", ADVISOR, LIVE),
    ("end", "u-two", LIVE),
    ("end", ADVISOR, LIVE),
    ("bill", None, None),
    ("start", "u-two", "x-two-0001"),
    ("poll", "u-two", "x-two-0001"),
]


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

    def __init__(self, client, idle_ms: int, now: Callable[[], int]):
        self.client = client
        self.idle_ms = idle_ms
        self.now = now
        # Each session's last-seen as last read (it only moves forward), the sessions whose
        # end was seen (never again a last-seen, never changed), and what they ended with.
        self.seen: Dict[str, int] = {}
        self.finals: Dict[str, dict] = {}
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
            self._check_last_seen(user, account, sessions, upgraded_active)
        for sid, s in sessions.items():
            charged = int(s.get("charged", {}).get("N", "0"))
            before = int(s.get("legacy_charged", {}).get("N", "0")) if "schema_version" in s else charged
            assert charged == before + by_session[sid], f"{sid}: charged {charged} is not its ledger's"
            self._check_minutes(sid, s)

    def _check_last_seen(self, user: str, account: dict, sessions: dict, upgraded_active: set) -> None:
        """A last-seen is kept exactly for the user's active sessions of this release; it only
        moves forward; once the session ended it is gone for good (no revival)."""
        held = {name[len(LAST_SEEN) :]: int(v["N"]) for name, v in account.items() if name.startswith(LAST_SEEN)}
        assert set(held) == upgraded_active, (
            f"{user}: last-seen kept for {sorted(held)}, active {sorted(upgraded_active)}"
        )
        for sid, value in held.items():
            assert sid not in self.finals, f"{sid}: a last-seen ({value}) written after its end: revived"
            assert value >= self.seen.get(sid, value), f"{sid}: last-seen went back from {self.seen[sid]} to {value}"
            self.seen[sid] = value

    def _check_minutes(self, sid: str, s: dict) -> None:
        """What a session is charged, against how it ended (or its user's last sighting)."""
        billed, started = _number(s, "billed_minutes") or 0, _number(s, "started_at_ms")
        if s["status"]["S"] == "active":
            if sid in self.seen and started is not None:
                # Billing charges only while the user counts as there: never past the idle instant.
                limit = _minutes(self.seen[sid] + self.idle_ms - started)
                assert billed <= limit, f"{sid}: {billed} minutes billed, past its idle instant ({limit})"
            return
        final = {name: s.get(name) for name in ("ended_at_ms", "end_reason", "billed_minutes", "charged", "status")}
        if sid in self.finals:
            assert final == self.finals[sid], f"{sid} changed after its end: {self.finals[sid]} -> {final}"
            return
        self.finals[sid] = final
        reason, ended_at = s.get("end_reason", {}).get("S"), _number(s, "ended_at_ms")
        if reason != "idle":
            return
        # Ended as idle: from the last sighting that landed before it, never from an older one.
        assert sid in self.seen, f"{sid}: ended as idle, yet its user's last-seen was never recorded"
        assert ended_at == self.seen[sid] + self.idle_ms, (
            f"{sid}: ended as idle at {ended_at}, but its user was last seen at {self.seen[sid]}"
        )
        assert ended_at <= self.now(), f"{sid}: ended as idle at {ended_at}, later than now ({self.now()})"
        assert billed == _minutes(ended_at - started), f"{sid}: {billed} minutes billed up to its idle instant"

    def idle_instants(self) -> List[int]:
        """When the active sessions go idle, as last read."""
        return sorted(seen + self.idle_ms for sid, seen in self.seen.items() if sid not in self.finals)


def _number(item: dict, name: str) -> Optional[int]:
    return int(item[name]["N"]) if name in item else None


def _minutes(elapsed_ms: int) -> int:
    return -(-max(0, elapsed_ms) // 60_000)


def _epoch_ms(iso: str) -> int:
    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _check_views(operations: List[Operation], shared_balance: set, finals: Optional[Dict[str, dict]] = None) -> None:
    """Timer rule 3 for every pair of views in real-time order, and no view ahead of the
    final one; not for a user in the upgrade window (see Tables.shared_balance). With the
    tables' `finals`: every ended view is the session's end as stored, and no view of a
    session that ended as idle shows it active at or past its idle instant."""
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
        stored = (finals or {}).get(sid)
        if stored is None:
            continue
        ended_at = None if stored["ended_at_ms"] is None else int(stored["ended_at_ms"]["N"])
        reason = None if stored["end_reason"] is None else stored["end_reason"]["S"]
        for op in seen:
            view = op.result
            if view["status"] == "ended":
                shown = (None if view["ended_at"] is None else _epoch_ms(view["ended_at"]), view["end_reason"])
                assert shown == (ended_at, reason), (
                    f"{sid}: {op.label} showed the end {shown}, stored {ended_at, reason}"
                )
            elif reason == "idle":
                assert _epoch_ms(view["server_time"]) < ended_at, (
                    f"{sid}: {op.label} showed it active at {view['server_time']}, past its idle end {ended_at}"
                )


def _advance(data, tables: Tables, explorer_now: Callable[[], int], moves: list) -> Callable[[], int]:
    """How far the clock moves at a step: one of `moves`, in ms or onto an idle instant."""

    def advance() -> int:
        move = data.draw(st.sampled_from(moves))
        if isinstance(move, int):
            return move
        now = explorer_now()
        ahead = [at + move[1] - now for at in tables.idle_instants() if at + move[1] > now]
        return min(ahead) if ahead and min(ahead) <= 10 * 60_000 else 0

    return advance


def _stores(monkeypatch, limits: List[int]) -> Dict[int, DynamoStore]:
    """One store per idle limit: settings are read when a store is built."""
    stores = {}
    for limit in limits:
        monkeypatch.setenv("SESSION_IDLE_SECONDS", str(limit))
        stores[limit] = DynamoStore(current())
    return stores


def _run_example(client, raw, store: DynamoStore, picked: list, data, choose, start_ms: int, moves: list) -> None:
    """One example: the seeded tables, `picked` run at once under `choose` and `moves`, the
    tables checked after every step and the views at the end."""
    _empty(client)
    _seed(client, store)
    tables = Tables(raw, store.settings.session_idle_ms, lambda: explorer.now_ms)
    explorer = Explorer(start_ms, choose=choose, advance=_advance(data, tables, lambda: explorer.now_ms, moves))
    operations = [_operation(store, explorer, i, *p) for i, p in enumerate(picked)]
    try:
        with explorer.at_client_boundary():
            explorer.run(operations, after_step=tables.check)
        _check_views(operations, tables.shared_balance, tables.finals)
    finally:
        note(f"idle limit: {store.settings.session_idle_seconds} s")
        note("schedule:\n" + "\n".join(explorer.log))
        note("results:\n" + "\n".join(f"{op.label} -> {_outcome(op)}" for op in operations))


def _explorer_settings(examples: int):
    """Hypothesis as the explorer runs it: fixed examples unless EXPLORE_EXAMPLES asks for more."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize="EXPLORE_EXAMPLES" not in os.environ,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=PHASES,
    )


def test_interleavings_keep_the_invariants(monkeypatch):
    monkeypatch.setenv("ACTIVE_SHARDS", "1")
    with mock_aws():
        client = fresh_tables()
        stores = _stores(monkeypatch, IDLE_LIMITS)
        raw = boto3.client("dynamodb", region_name="us-east-1")

        @_explorer_settings(EXAMPLES)
        @given(
            data=st.data(),
            picked=st.lists(st.sampled_from(MENU) | st.sampled_from(IDLE_MENU), min_size=2, max_size=7),
            idle=st.sampled_from(IDLE_LIMITS),
        )
        def explore(data, picked, idle):
            _run_example(client, raw, stores[idle], picked, data, _sticky(data), START_MS, CLOCK_MOVES + EDGE_MOVES)

        explore()


# ---- heartbeats at the idle instant ---------------------------------------------------------

# LIVE's user polls (last seen 30 s before START: with a limit of 45 s the poll is due, and
# LIVE goes idle at START + 15 s) while everything that ends LIVE as idle when it finds it
# past that instant runs too: billing, the advisor's poll, either party's end, its user's next
# start (which ends LIVE first).
AT_IDLE_LIMIT = 45
LIVE_IDLE_AT = START_MS + 15_000
HEARTBEAT = ("poll", "u-two", LIVE)
AT_IDLE_MENU = [
    HEARTBEAT,
    ("poll", ADVISOR, LIVE),
    ("end", "u-two", LIVE),
    ("end", ADVISOR, LIVE),
    ("bill", None, None),
    ("start", "u-two", "x-two-0001"),
]
AT_IDLE_MOVES: list = [0, 1, 250, 1_000, *EDGE_MOVES]


def test_heartbeats_racing_idle_ends_keep_the_invariants(monkeypatch):
    """The user's poll reads a moment before LIVE's idle instant; any stop may be let go next
    (picked uniformly: the heartbeat must land between another operation's read, or refused
    write, and its commit). Either the heartbeat lands first and nothing ends LIVE as idle at
    START + 15 s, or the idle end lands first and the heartbeat revives nothing."""
    monkeypatch.setenv("ACTIVE_SHARDS", "1")
    with mock_aws():
        client = fresh_tables()
        store = _stores(monkeypatch, [AT_IDLE_LIMIT])[AT_IDLE_LIMIT]
        raw = boto3.client("dynamodb", region_name="us-east-1")

        @_explorer_settings(max(1, EXAMPLES // 3))
        @given(
            data=st.data(),
            others=st.lists(st.sampled_from(AT_IDLE_MENU), min_size=1, max_size=2),
            before=st.sampled_from([1, 250, 1_000]),
        )
        def explore(data, others, before):
            def uniform(labels: List[str]) -> str:
                return data.draw(st.sampled_from(labels))

            _run_example(client, raw, store, [HEARTBEAT, *others], data, uniform, LIVE_IDLE_AT - before, AT_IDLE_MOVES)

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
