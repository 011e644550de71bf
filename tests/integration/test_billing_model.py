"""Random interleavings of start, poll, end, billing runs and the clock moving, on moto,
checked step by step against a plain-Python model of the contract (written from its text, sharing no
code with chalicelib/domain)."""

from dataclasses import dataclass
from typing import Dict, Optional

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
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
from harness.clock import MINUTE_MS, FakeClock
from harness.dynamo import add_advisor, add_user, fresh_tables

USERS = ("m-u1", "m-u2")
ADVISORS = {"m-a100": 100, "m-a199": 199}


@dataclass
class Modelled:
    """One session as the contract describes it."""

    user: str
    advisor: str
    rate: int
    start: int
    billed: int = 0
    charged: int = 0
    ended_at: Optional[int] = None
    reason: Optional[str] = None

    @property
    def active(self) -> bool:
        return self.ended_at is None


class Spec:
    """The contract's billing and timer rules over plain integers."""

    def __init__(self, balances: Dict[str, int]):
        self.balances = dict(balances)
        self.sessions: Dict[str, Modelled] = {}

    def cap_ms(self, s: Modelled) -> int:
        return (s.billed + self.balances[s.user] // s.rate) * MINUTE_MS

    def _charge_to(self, s: Modelled, minutes: int) -> None:
        if minutes > s.billed:
            amount = (minutes - s.billed) * s.rate
            assert amount <= self.balances[s.user], "the model never overdraws"
            self.balances[s.user] -= amount
            s.charged += amount
            s.billed = minutes

    def settle(self, s: Modelled, now: int, end_reason: Optional[str] = None) -> None:
        """A billing run (end_reason None) or an end: charge every started minute; when the
        balance cannot pay them, charge what it can and end where the paid minutes run out."""
        if not s.active:
            return
        cap = self.cap_ms(s)
        if now - s.start > cap:
            self._charge_to(s, cap // MINUTE_MS)
            s.ended_at, s.reason = s.start + cap, "credits_exhausted"
            return
        elapsed = max(0, now - s.start)
        self._charge_to(s, -(-elapsed // MINUTE_MS))
        if end_reason:
            s.ended_at, s.reason = max(now, s.start), end_reason

    def view(self, s: Modelled, now: int) -> dict:
        if s.active:
            elapsed = min(max(0, now - s.start), self.cap_ms(s))
            remaining = self.cap_ms(s) - elapsed
        else:
            elapsed, remaining = s.ended_at - s.start, None
        return {
            "status": "active" if s.active else "ended",
            "elapsed_ms": elapsed,
            "remaining_ms": remaining,
            "billed_minutes": s.billed,
            "charged": s.charged,
            "end_reason": s.reason,
            "balance": self.balances[s.user],
        }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000)


class BillingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.aws = mock_aws()
        self.aws.start()
        fresh_tables()
        for advisor, rate in ADVISORS.items():
            add_advisor(advisor, rate)
        self.store, self.clock = DynamoStore(current()), FakeClock()
        self.spec: Optional[Spec] = None
        self.started_balances: Dict[str, int] = {}
        self.shown: Dict[str, int] = {}
        self.count = 0

    def teardown(self):
        try:
            if self.spec is not None:
                assert books_problems(self.started_balances, self.clock()) == []
        finally:
            self.aws.stop()

    @precondition(lambda self: self.spec is None)
    # Whole minutes at a rate are where the cap lands exactly on a minute: worth trying often.
    @rule(balances=st.tuples(*[st.one_of(st.sampled_from([100, 199, 200, 398]), st.integers(0, 1_200)) for _ in USERS]))
    def open_accounts(self, balances):
        self.started_balances = dict(zip(USERS, balances, strict=True))
        for user, balance in self.started_balances.items():
            add_user(user, balance)
        self.spec = Spec(self.started_balances)

    def _last_of(self, user) -> Optional[str]:
        mine = [sid for sid, s in self.spec.sessions.items() if s.user == user]
        return mine[-1] if mine else None

    def _check(self, sid: str, view: dict) -> None:
        expected = self.spec.view(self.spec.sessions[sid], self.clock())
        got = {
            "status": view["status"],
            "elapsed_ms": _ms(view["elapsed_seconds"]),
            "remaining_ms": _ms(view["seconds_remaining"]),
            "billed_minutes": view["billed_minutes"],
            "charged": view["charged"],
            "end_reason": view["end_reason"],
            "balance": view["balance"],
        }
        assert got == expected
        # Timer rule 3: what one session shows never goes back.
        assert got["elapsed_ms"] >= self.shown.get(sid, 0)
        self.shown[sid] = got["elapsed_ms"]

    @precondition(lambda self: self.spec is not None)
    @rule(user=st.sampled_from(USERS), advisor=st.sampled_from(sorted(ADVISORS)))
    def start(self, user, advisor):
        self.count += 1
        sid = f"m-s{self.count:04d}"
        rate, now = ADVISORS[advisor], self.clock()
        busy = any(s.active and s.user == user for s in self.spec.sessions.values())
        try:
            started = start_session(self.store, self.clock, user, StartRequest(advisor_id=advisor, session_id=sid))
        except ActiveSessionExists:
            assert busy
            return
        except InsufficientCredit:
            assert not busy and self.spec.balances[user] < rate
            return
        assert not busy and self.spec.balances[user] >= rate and started.created
        self.spec.sessions[sid] = Modelled(user, advisor, rate, now)
        self._check(sid, started.view)

    @precondition(lambda self: self.spec is not None and self.spec.sessions)
    @rule(user=st.sampled_from(USERS))
    def poll(self, user):
        sid = self._last_of(user)
        if sid is not None:
            self._check(sid, poll_session(self.store, self.clock, user, sid))

    @precondition(lambda self: self.spec is not None and self.spec.sessions)
    @rule(user=st.sampled_from(USERS), by_advisor=st.booleans())
    def end(self, user, by_advisor):
        sid = self._last_of(user)
        if sid is None:
            return
        session = self.spec.sessions[sid]
        caller = session.advisor if by_advisor else user
        view = end_session(self.store, self.clock, caller, sid)
        self.spec.settle(session, self.clock(), "advisor" if by_advisor else "user")
        self._check(sid, poll_session(self.store, self.clock, user, sid))
        assert view["status"] == "ended" and view["charged"] == session.charged

    @precondition(lambda self: self.spec is not None)
    @rule()
    def bill(self):
        report = scheduled_billing(self.store, self.clock, None)
        for session in self.spec.sessions.values():
            self.spec.settle(session, self.clock())
        assert report["failed"] == report["left_over"] == 0
        # What the run did shows in every session's next poll, whoever polls first.
        for sid, session in self.spec.sessions.items():
            self._check(sid, poll_session(self.store, self.clock, session.user, sid))

    @rule(
        ms=st.one_of(
            st.just(MINUTE_MS), st.sampled_from([1, MINUTE_MS - 1, MINUTE_MS + 1]), st.integers(1, 4 * MINUTE_MS)
        )
    )
    def wait(self, ms):
        self.clock.advance(ms=ms)


def test_random_interleavings_follow_the_spec(monkeypatch):
    # In-process moto is not safe under concurrent requests: one shard worker.
    monkeypatch.setenv("BILLING_WORKERS", "1")
    monkeypatch.setenv("ACTIVE_SHARDS", "2")
    run_state_machine_as_test(
        BillingMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
