"""What a charge is, and how ending or billing a session decides one.

Ending and billing share one rule: charge the started minutes not yet charged, unless the
session already ended by itself before now: its credits ran out (charge what the balance
pays, end when those minutes run out) or its user went away (charge up to the idle instant,
end there); the earlier of the two wins. Both return a Charge that the store commits in one
transaction, guarded by the `billed_minutes` and the user's last-seen the decision was made
from.
"""

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from chalicelib.domain.presence import Presence
from chalicelib.domain.session import END_CREDITS_EXHAUSTED, END_IDLE, ENDED, Session
from chalicelib.domain.timer import (
    MS_PER_MINUTE,
    affordable_minutes,
    minutes_owed,
    raw_elapsed_ms,
)


@dataclass(frozen=True)
class Charge:
    """A session's minutes after `billed_before` up to `billed_after`, charged at its rate, and
    its end when the charge ends it: what one transaction commits (store/writes.py)."""

    session_id: str
    user_id: str
    billed_before: int
    billed_after: int
    rate_per_minute: int
    charged_at_ms: int
    ended_at_ms: Optional[int] = None
    end_reason: Optional[str] = None
    # What the user's last-seen must still be when the charge lands. An idle end was decided
    # from `last_seen_ms` and needs exactly it (a poll in between revived nothing only if it
    # wrote nothing); any other charge needs the user seen at or after `seen_since_ms` (not
    # idle before the charge's instant: its end, or now), or never recorded, so that no minute
    # is charged past an idle instant it did not read.
    seen_since_ms: Optional[int] = None
    last_seen_ms: Optional[int] = None

    @property
    def ends_idle(self) -> bool:
        return self.end_reason == END_IDLE

    @property
    def minutes(self) -> int:
        return self.billed_after - self.billed_before

    @property
    def amount(self) -> int:
        return self.minutes * self.rate_per_minute

    @property
    def first_minute(self) -> int:
        """1-based number of the first minute this charge covers: the ledger item's sort key.

        Deterministic from the session and what was billed before, so two runs that both read
        the same `billed_minutes` would write the same ledger key and only one could succeed.
        """
        return self.billed_before + 1

    @property
    def ends_session(self) -> bool:
        return self.end_reason is not None

    def applied_to(self, session: Session) -> Session:
        """The session as it is once this charge is committed."""
        applied = session.with_changes(billed_minutes=self.billed_after, charged=session.charged + self.amount)
        if self.ends_session:
            applied = applied.with_changes(status=ENDED, ended_at_ms=self.ended_at_ms, end_reason=self.end_reason)
        return applied


def _charge(session: Session, billed_after: int, now_ms: int, presence: Presence, **end: Any) -> Charge:
    idle = end.get("end_reason") == END_IDLE
    return Charge(
        session_id=session.session_id,
        user_id=session.user_id,
        billed_before=session.billed_minutes,
        billed_after=max(billed_after, session.billed_minutes),
        rate_per_minute=session.rate_per_minute,
        charged_at_ms=now_ms,
        seen_since_ms=None if idle else presence.seen_since_ms(end.get("ended_at_ms", now_ms)),
        last_seen_ms=presence.last_seen_ms if idle else None,
        **end,
    )


def _exhausted_at(session: Session, balance: Optional[int], now_ms: int) -> Optional[Tuple[int, int]]:
    """(instant, minutes paid) if the credits ran out before now; None if not, or not known."""
    if balance is None:
        return None
    more = affordable_minutes(balance, session.rate_per_minute)
    if more is None:
        return None
    paid_until = session.billed_minutes + more
    if raw_elapsed_ms(session, now_ms) <= paid_until * MS_PER_MINUTE:
        return None
    return session.started_at_ms + paid_until * MS_PER_MINUTE, paid_until


def forced_end(session: Session, balance: Optional[int], presence: Presence, now_ms: int) -> Optional[Charge]:
    """If the session ended by itself before now, the charge that ends it at that instant:
    the credits' end (minutes paid, no more) or the idle instant (started minutes up to it),
    whichever came first; the credits' end when both fall on the same millisecond."""
    exhausted = _exhausted_at(session, balance, now_ms)
    idle_at = presence.idle_at_ms if presence.is_idle(now_ms) else None
    if exhausted is not None and (idle_at is None or exhausted[0] <= idle_at):
        ended_at, paid_until = exhausted
        return _charge(session, paid_until, now_ms, presence, ended_at_ms=ended_at, end_reason=END_CREDITS_EXHAUSTED)
    if idle_at is not None:
        # Never before the start (a limit is at least 5 s, but a clock may say otherwise).
        ended_at = max(idle_at, session.started_at_ms)
        owed = minutes_owed(ended_at - session.started_at_ms)
        return _charge(session, owed, now_ms, presence, ended_at_ms=ended_at, end_reason=END_IDLE)
    return None


def settle_end(session: Session, balance: int, presence: Presence, now_ms: int, reason: str) -> Charge:
    """The final charge of an active session ended now by `reason` (user or advisor), unless
    it had already ended by itself (credits, idle)."""
    forced = forced_end(session, balance, presence, now_ms)
    if forced is not None:
        return forced
    ended_at = max(now_ms, session.started_at_ms)
    owed = minutes_owed(ended_at - session.started_at_ms)
    return _charge(session, owed, now_ms, presence, ended_at_ms=ended_at, end_reason=reason)


def settle_billing(session: Session, balance: Optional[int], presence: Presence, now_ms: int) -> Optional[Charge]:
    """What a billing run charges now; None when nothing new is owed.

    `balance=None` and an unknown last-seen mean "not read yet": billing first assumes the
    balance pays and the user is there (the transaction's conditions check both), and decides
    again with what DynamoDB returned only when a condition fails. That keeps a normal run at
    one request per session and never reads an account.
    """
    forced = forced_end(session, balance, presence, now_ms)
    if forced is not None:
        return forced
    owed = minutes_owed(raw_elapsed_ms(session, now_ms))
    if owed <= session.billed_minutes:
        return None
    return _charge(session, owed, now_ms, presence)
