"""Elapsed time, the credit cap, and what a session owes: the timer and billing rules of
docs/contract.md."""

from typing import Optional

from chalicelib.domain.session import Session

MS_PER_MINUTE = 60_000


def minutes_owed(elapsed_ms: int) -> int:
    """Started minutes, rounded up: 0 ms owes 0, 1 ms..60 000 ms owe 1, 60 001 ms owe 2."""
    if elapsed_ms <= 0:
        return 0
    return -(-elapsed_ms // MS_PER_MINUTE)


def affordable_minutes(balance: int, rate: int) -> Optional[int]:
    """Whole minutes the balance still pays for; None when the rate is free."""
    if rate <= 0:
        return None
    return max(balance, 0) // rate


def credit_cap_ms(session: Session, balance: int) -> Optional[int]:
    """Elapsed time the user's credits cover: (billed + balance // rate) minutes.

    A billing charge moves `rate` units from the balance into one billed minute, so the cap
    does not move when billing runs: a poll before and after a run sees the same cap.
    """
    more = affordable_minutes(balance, session.rate_per_minute)
    if more is None:
        return None
    return (session.billed_minutes + more) * MS_PER_MINUTE


def raw_elapsed_ms(session: Session, now_ms: int) -> int:
    """Elapsed time ignoring credits; never negative, frozen once ended."""
    if not session.is_active:
        if session.ended_at_ms is None:
            # A schema-1 session ended without an end time: what was billed is all we know.
            return session.billed_minutes * MS_PER_MINUTE
        return max(0, session.ended_at_ms - session.started_at_ms)
    # A backend clock a few ms behind the writer's must not show negative time.
    return max(0, now_ms - session.started_at_ms)


def elapsed_ms(session: Session, balance: int, now_ms: int) -> int:
    """What the display shows: raw elapsed, capped at the credit cap while active."""
    elapsed = raw_elapsed_ms(session, now_ms)
    if not session.is_active:
        return elapsed
    cap = credit_cap_ms(session, balance)
    return elapsed if cap is None else min(elapsed, cap)


def remaining_ms(session: Session, balance: int, now_ms: int) -> Optional[int]:
    """How long the balance still lasts; None once ended or when the rate is free."""
    if not session.is_active:
        return None
    cap = credit_cap_ms(session, balance)
    if cap is None:
        return None
    return cap - elapsed_ms(session, balance, now_ms)
