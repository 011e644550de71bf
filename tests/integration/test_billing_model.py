"""Random interleavings of start, poll, end, billing runs and the clock moving, on moto,
checked step by step against a plain-Python model of the contract (written from its text, sharing no
code with chalicelib/domain).

The idle rule is in the model too: each example draws a short idle limit, the user's start
and polls mark them as seen (a poll only when a quarter of the limit has passed since the
last sighting), the advisor's polls do not, and the clock is moved onto idle, heartbeat and
credit instants as well as by whole minutes."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Dict, Optional, Tuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test
from moto import mock_aws

from chalicelib.domain.errors import ActiveSessionExists, InsufficientCredit
from chalicelib.domain.validation import StartRequest
from chalicelib.services.end import end_session
from chalicelib.services.poll import poll_session
from chalicelib.services.schedule import scheduled_billing
from chalicelib.services.start import start_session
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore
from harness.billing import books_problems
from harness.clock import FakeClock
from harness.dynamo import add_advisor, add_user, fresh_tables

MINUTE_MS = 60_000  # the contract's minute: the model's own, not the service's constant
USERS = ("m-u1", "m-u2")
ADVISORS = {"m-a100": 100, "m-a199": 199}
# Short enough for the clock's moves to cross often; 60 s with a balance of one minute puts
# the idle instant and the credits' end on the same millisecond (ties: credits).
IDLE_SECONDS = (60, 90, 150)
EXAMPLES = 45
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _minutes_owed(elapsed_ms: int) -> int:
    """Started minutes: 0 ms owes 0, 1 ms to 60 s owe 1."""
    return -(-max(0, elapsed_ms) // MINUTE_MS)


@dataclass
class Modelled:
    """One session as the contract describes it."""

    user: str
    advisor: str
    rate: int
    start: int
    last_seen: int  # the user's last sighting: the start, then their polls
    billed: int = 0
    charged: int = 0
    ended_at: Optional[int] = None
    reason: Optional[str] = None

    @property
    def active(self) -> bool:
        return self.ended_at is None


class Spec:
    """The contract's billing, timer and idle rules over plain integers."""

    def __init__(self, balances: Dict[str, int], idle_ms: int):
        self.balances = dict(balances)
        self.idle_ms = idle_ms
        self.sessions: Dict[str, Modelled] = {}

    def cap_ms(self, s: Modelled) -> int:
        return (s.billed + self.balances[s.user] // s.rate) * MINUTE_MS

    def idle_at(self, s: Modelled) -> int:
        return s.last_seen + self.idle_ms

    def _charge_to(self, s: Modelled, minutes: int) -> None:
        if minutes > s.billed:
            amount = (minutes - s.billed) * s.rate
            assert amount <= self.balances[s.user], "the model never overdraws"
            self.balances[s.user] -= amount
            s.charged += amount
            s.billed = minutes

    def _end(self, s: Modelled, at: int, reason: str, minutes: int) -> None:
        self._charge_to(s, minutes)
        s.ended_at, s.reason = at, reason

    def over_by_itself(self, s: Modelled, now: int) -> Optional[Tuple[int, str, int]]:
        """(instant, reason, minutes charged in all) if the session ended by itself before now:
        its credits ran out (elapsed past the cap: paid minutes, no more) or its user was not
        seen for the idle limit (every started minute up to the idle instant); the earlier
        instant wins, the credits on a tie."""
        credits_end = s.start + self.cap_ms(s)
        out_of_credits = now - s.start > self.cap_ms(s)
        idle = now >= self.idle_at(s)
        if out_of_credits and (not idle or credits_end <= self.idle_at(s)):
            return credits_end, "credits_exhausted", self.cap_ms(s) // MINUTE_MS
        if idle:
            at = max(self.idle_at(s), s.start)
            return at, "idle", _minutes_owed(at - s.start)
        return None

    def settle(self, s: Modelled, now: int, end_reason: Optional[str] = None) -> None:
        """A billing run (end_reason None) or an end: charge every started minute, unless the
        session already ended by itself; then it ends there, charged up to that instant."""
        if not s.active:
            return
        over = self.over_by_itself(s, now)
        if over is not None:
            self._end(s, *over)
            return
        self._charge_to(s, _minutes_owed(now - s.start))
        if end_reason:
            s.ended_at, s.reason = max(now, s.start), end_reason

    def lapse(self, s: Modelled, now: int) -> None:
        """What a poll or a start finds: a session whose user left is over at its idle instant
        (and is written so). A credit end is left to billing and ends, as before idle existed."""
        over = self.over_by_itself(s, now) if s.active else None
        if over is not None and over[1] == "idle":
            self._end(s, *over)

    def poll(self, s: Modelled, now: int, by_user: bool) -> None:
        self.lapse(s, now)
        if by_user and s.active and now - s.last_seen >= self.idle_ms // 4:
            s.last_seen = now

    def view(self, s: Modelled, now: int, by_user: bool) -> dict:
        if s.active:
            elapsed = min(max(0, now - s.start), self.cap_ms(s))
            remaining = self.cap_ms(s) - elapsed
        else:
            elapsed, remaining = s.ended_at - s.start, None
        view = {
            "status": "active" if s.active else "ended",
            "elapsed_ms": elapsed,
            "remaining_ms": remaining,
            "running": s.active and remaining > 0,
            "billed_minutes": s.billed,
            "charged": s.charged,
            "ended_at": s.ended_at,
            "end_reason": s.reason,
            "idle_timeout_ms": self.idle_ms,
        }
        if by_user:
            view["balance"] = self.balances[s.user]
        return view


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000)


def _attribute(item: dict, name: str):
    """A stored attribute as a plain value: a number as int, a string as str, None if absent."""
    value = item.get(name)
    if value is None:
        return None
    return int(value["N"]) if "N" in value else value["S"]


def _epoch_ms(iso: Optional[str]) -> Optional[int]:
    if iso is None:
        return None
    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


class BillingMachine(RuleBasedStateMachine):
    # Set by the test: one store per idle limit, on one moto for every example (building a
    # botocore client, as a fresh moto needs, costs more than an example's requests).
    stores: Dict[int, DynamoStore] = {}

    def __init__(self):
        super().__init__()
        _empty(next(iter(self.stores.values())))
        self.clock = FakeClock()
        self.store: Optional[DynamoStore] = None
        self.spec: Optional[Spec] = None
        self.started_balances: Dict[str, int] = {}
        self.shown: Dict[str, int] = {}
        self.count = 0

    def teardown(self):
        if self.spec is not None:  # the accounts were opened
            assert books_problems(self.started_balances, self.clock()) == []

    # Whole minutes at a rate are where the cap lands exactly on a minute: worth trying often.
    @initialize(
        balances=st.tuples(*[st.one_of(st.sampled_from([100, 199, 200, 398]), st.integers(0, 1_200)) for _ in USERS]),
        idle_seconds=st.sampled_from(IDLE_SECONDS),
    )
    def open_accounts(self, balances, idle_seconds):
        self.started_balances = dict(zip(USERS, balances, strict=True))
        for user, balance in self.started_balances.items():
            add_user(user, balance)
        self.store = self.stores[idle_seconds]
        assert self.store.settings.session_idle_ms == idle_seconds * 1000
        self.spec = Spec(self.started_balances, idle_seconds * 1000)

    def _last_of(self, user) -> Optional[str]:
        mine = [sid for sid, s in self.spec.sessions.items() if s.user == user]
        return mine[-1] if mine else None

    def _check(self, sid: str, view: dict, by_user: bool = True) -> None:
        expected = self.spec.view(self.spec.sessions[sid], self.clock(), by_user)
        got = {
            "status": view["status"],
            "elapsed_ms": _ms(view["elapsed_seconds"]),
            "remaining_ms": _ms(view["seconds_remaining"]),
            "running": view["timer"]["state"] == "running",
            "billed_minutes": view["billed_minutes"],
            "charged": view["charged"],
            "ended_at": _epoch_ms(view["ended_at"]),
            "end_reason": view["end_reason"],
            "idle_timeout_ms": view["idle_timeout_seconds"] * 1000,
        }
        if "balance" in view:
            got["balance"] = view["balance"]
        assert got == expected
        # Timer rule 4: what one session shows never goes back, to the user or the advisor.
        assert got["elapsed_ms"] >= self.shown.get(sid, 0)
        self.shown[sid] = got["elapsed_ms"]

    def _scan(self, table: str) -> list:
        """Every item of a (small) table, raw, through the store's own client: building
        another one costs more than the whole read."""
        return self.store.connection.client.scan(TableName=table, ConsistentRead=True)["Items"]

    def _check_last_seen(self, *sids: str) -> None:
        """The account holds the user's last sighting while the session is active, and
        nothing once it ended (an ended session is never revived). One read for all."""
        accounts = {item["user_id"]["S"]: item for item in self._scan(current().accounts_table)}
        for sid in sids:
            s = self.spec.sessions[sid]
            stored = accounts[s.user].get(f"last_seen:{sid}")
            assert (None if stored is None else int(stored["N"])) == (s.last_seen if s.active else None), sid

    @rule(user=st.sampled_from(USERS), advisor=st.sampled_from(sorted(ADVISORS)))
    def start(self, user, advisor):
        self.count += 1
        sid = f"m-s{self.count:04d}"
        rate, now = ADVISORS[advisor], self.clock()
        # A start first ends the session its user left, then decides as usual.
        for s in self.spec.sessions.values():
            if s.user == user:
                self.spec.lapse(s, now)
        busy = any(s.active and s.user == user for s in self.spec.sessions.values())
        try:
            started = start_session(self.store, self.clock, user, StartRequest(advisor_id=advisor, session_id=sid))
        except ActiveSessionExists:
            assert busy
            return
        except InsufficientCredit:
            assert not busy and self.spec.balances[user] < rate
            return
        finally:
            # The session it found, as its advisor sees it now (their poll records nobody).
            previous = self._last_of(user)
            if previous is not None:
                advisor_of = self.spec.sessions[previous].advisor
                self._check(previous, poll_session(self.store, self.clock, advisor_of, previous), by_user=False)
                self._check_last_seen(previous)
        assert not busy and self.spec.balances[user] >= rate and started.created
        self.spec.sessions[sid] = Modelled(user, advisor, rate, now, last_seen=now)
        self._check(sid, started.view)
        self._check_last_seen(sid)

    @precondition(lambda self: self.spec.sessions)
    @rule(user=st.sampled_from(USERS), by_advisor=st.booleans())
    def poll(self, user, by_advisor):
        sid = self._last_of(user)
        if sid is None:
            return
        session = self.spec.sessions[sid]
        view = poll_session(self.store, self.clock, session.advisor if by_advisor else user, sid)
        self.spec.poll(session, self.clock(), by_user=not by_advisor)
        self._check(sid, view, by_user=not by_advisor)
        self._check_last_seen(sid)

    @precondition(lambda self: self.spec.sessions)
    @rule(user=st.sampled_from(USERS), when=st.sampled_from(["due", "due+1", "halfway", "last"]))
    def keep_alive(self, user, when):
        """The user's page polls once its heartbeat is due again, before the session goes idle
        (exactly when due, 1 ms later, halfway to the idle instant, its last millisecond)."""
        sid = self._last_of(user)
        if sid is None:
            return
        s = self.spec.sessions[sid]
        due = s.last_seen + self.spec.idle_ms // 4
        target = {
            "due": due,
            "due+1": due + 1,
            "halfway": (due + self.spec.idle_at(s)) // 2,
            "last": self.spec.idle_at(s) - 1,
        }[when]
        if s.active and target > self.clock():
            self.clock.now_ms = target
        self.poll(user, by_advisor=False)

    @precondition(lambda self: self.spec.sessions)
    @rule(user=st.sampled_from(USERS), by_advisor=st.booleans())
    def end(self, user, by_advisor):
        sid = self._last_of(user)
        if sid is None:
            return
        session = self.spec.sessions[sid]
        caller = session.advisor if by_advisor else user
        view = end_session(self.store, self.clock, caller, sid)
        self.spec.settle(session, self.clock(), "advisor" if by_advisor else "user")
        self._check(sid, view, by_user=not by_advisor)
        self._check(sid, poll_session(self.store, self.clock, user, sid))
        self._check_last_seen(sid)

    @rule(by_advisor=st.booleans())
    def bill(self, by_advisor):
        # Only the sessions active before the run can change (an ended one is frozen: the polls
        # and ends of the rules above check that).
        live = {sid: s for sid, s in self.spec.sessions.items() if s.active}
        report = scheduled_billing(self.store, self.clock, None)
        for session in live.values():
            self.spec.settle(session, self.clock())
        assert report["failed"] == report["left_over"] == 0
        if not live:
            return
        # What the run wrote: the model's state, except that an idle end with no new minute to
        # charge waits for whoever looks next (billing decides from the index alone).
        stored_sessions = {item["session_id"]["S"]: item for item in self._scan(current().sessions_table)}
        for sid, s in live.items():
            item = stored_sessions[sid]
            got = tuple(
                _attribute(item, name) for name in ("status", "billed_minutes", "charged", "ended_at_ms", "end_reason")
            )
            expected = ("active" if s.active else "ended", s.billed, s.charged, s.ended_at, s.reason)
            if got != expected:
                assert s.reason == "idle" and got == ("active", s.billed, s.charged, None, None), (got, expected)
        # What the run did shows in every session's next poll, whoever polls first (the
        # user's poll also records them as seen when due).
        for sid, session in live.items():
            view = poll_session(self.store, self.clock, session.advisor if by_advisor else session.user, sid)
            self.spec.poll(session, self.clock(), by_user=not by_advisor)
            self._check(sid, view, by_user=not by_advisor)
        self._check_last_seen(*live)

    @rule(
        ms=st.one_of(
            st.just(MINUTE_MS),
            st.sampled_from([1, MINUTE_MS - 1, MINUTE_MS + 1]),
            st.integers(1, 4 * MINUTE_MS),
            # Less than a quarter of any idle limit drawn: polls in between keep a user there.
            st.integers(1_000, 14_000),
        )
    )
    def wait(self, ms):
        self.clock.advance(ms=ms)

    @precondition(lambda self: self.spec.sessions)
    @rule(
        user=st.sampled_from(USERS),
        edge=st.sampled_from(["idle", "heartbeat", "credits", "both"]),
        off=st.sampled_from([0, -1, 1]),
    )
    def wait_for(self, user, edge, off):
        """Move the clock onto an instant where the rules change, or 1 ms either side: the
        user's idle instant, their next heartbeat being due, their credits' end, or the later
        of the idle instant and the credits' end (both passed: the earlier one wins)."""
        sid = self._last_of(user)
        s = None if sid is None else self.spec.sessions[sid]
        if s is None or not s.active:
            return
        credits_end = s.start + self.spec.cap_ms(s)
        target = {
            "idle": self.spec.idle_at(s),
            "heartbeat": s.last_seen + self.spec.idle_ms // 4,
            "credits": credits_end,
            "both": max(self.spec.idle_at(s), credits_end + 1),
        }[edge] + off
        if target > self.clock():
            self.clock.now_ms = target


def _empty(store: DynamoStore) -> None:
    """What an example leaves behind, gone (the advisors stay)."""
    client, settings = store.connection.client, store.settings
    for table, keys in (
        (settings.sessions_table, ["session_id"]),
        (settings.accounts_table, ["user_id"]),
        (settings.ledger_table, ["session_id", "first_minute"]),
    ):
        for item in client.scan(TableName=table, ConsistentRead=True)["Items"]:
            client.delete_item(TableName=table, Key={k: item[k] for k in keys})


def test_random_interleavings_follow_the_spec(monkeypatch):
    # In-process moto is not safe under concurrent requests: one shard worker.
    monkeypatch.setenv("BILLING_WORKERS", "1")
    monkeypatch.setenv("ACTIVE_SHARDS", "2")
    with mock_aws():
        fresh_tables()
        for advisor, rate in ADVISORS.items():
            add_advisor(advisor, rate)
        stores = {}
        for limit in IDLE_SECONDS:  # settings are read when a store is built
            monkeypatch.setenv("SESSION_IDLE_SECONDS", str(limit))
            stores[limit] = DynamoStore(current())
        monkeypatch.setattr(BillingMachine, "stores", stores)
        run_state_machine_as_test(
            BillingMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
