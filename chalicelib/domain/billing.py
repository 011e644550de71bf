"""What a charge is, and how ending or billing a session decides one.

Ending and billing share one rule: charge the started minutes not yet charged, unless the
balance cannot pay them, in which case charge what it can and end the session at the instant
those paid minutes run out. Both return a Charge that the store commits in one transaction,
guarded by the `billed_minutes` the decision was made from.
"""

from dataclasses import dataclass
from typing import Any, Optional

from chalicelib.domain.session import END_CREDITS_EXHAUSTED, ENDED, Session
from chalicelib.domain.timer import (
    MS_PER_MINUTE,
    affordable_minutes,
    minutes_owed,
    raw_elapsed_ms,
)


@dataclass(frozen=True)
class Charge:
    session_id: str
    user_id: str
    billed_before: int
    billed_after: int
    rate_per_minute: int
    charged_at_ms: int
    ended_at_ms: Optional[int] = None
    end_reason: Optional[str] = None

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


def _charge(session: Session, billed_after: int, now_ms: int, **end: Any) -> Charge:
    return Charge(
        session_id=session.session_id,
        user_id=session.user_id,
        billed_before=session.billed_minutes,
        billed_after=max(billed_after, session.billed_minutes),
        rate_per_minute=session.rate_per_minute,
        charged_at_ms=now_ms,
        **end,
    )


def _exhaustion(session: Session, balance: int, now_ms: int) -> Optional[Charge]:
    """If the credits ran out before now, the charge that ends the session at that instant."""
    more = affordable_minutes(balance, session.rate_per_minute)
    if more is None:
        return None
    paid_until = session.billed_minutes + more
    if raw_elapsed_ms(session, now_ms) <= paid_until * MS_PER_MINUTE:
        return None
    return _charge(
        session,
        paid_until,
        now_ms,
        ended_at_ms=session.started_at_ms + paid_until * MS_PER_MINUTE,
        end_reason=END_CREDITS_EXHAUSTED,
    )


def settle_end(session: Session, balance: int, now_ms: int, reason: str) -> Charge:
    """The final charge of an active session ended now by `reason` (user or advisor)."""
    exhausted = _exhaustion(session, balance, now_ms)
    if exhausted is not None:
        return exhausted
    ended_at = max(now_ms, session.started_at_ms)
    owed = minutes_owed(ended_at - session.started_at_ms)
    return _charge(session, owed, now_ms, ended_at_ms=ended_at, end_reason=reason)


def settle_billing(session: Session, balance: Optional[int], now_ms: int) -> Optional[Charge]:
    """What a billing run charges now; None when nothing new is owed.

    `balance=None` means "not read yet": billing first assumes the balance pays (the
    transaction's balance guard checks it), and decides again with the real balance only
    when that guard fails. That keeps a normal run at one request per session.
    """
    if balance is not None:
        exhausted = _exhaustion(session, balance, now_ms)
        if exhausted is not None:
            return exhausted
    owed = minutes_owed(raw_elapsed_ms(session, now_ms))
    if owed <= session.billed_minutes:
        return None
    return _charge(session, owed, now_ms)
