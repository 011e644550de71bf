"""The session view: what every successful session response carries (docs/contract.md)."""

from typing import Any, Dict, Optional

from chalicelib.domain.instants import iso_ms
from chalicelib.domain.presence import DEFAULT_IDLE_SECONDS
from chalicelib.domain.session import AT_CREATION, Session
from chalicelib.domain.timer import elapsed_ms, remaining_ms


def _seconds(ms: Optional[int]) -> Optional[float]:
    return None if ms is None else round(ms / 1000, 3)


def session_view(
    session: Session, balance: int, caller_id: str, now_ms: int, idle_seconds: int = DEFAULT_IDLE_SECONDS
) -> Dict[str, Any]:
    remaining = remaining_ms(session, balance, now_ms)
    # Once the credits are used up the display freezes: the timer is stopped even before a
    # billing run or an end request records the end.
    running = session.is_active and (remaining is None or remaining > 0)
    view = {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "advisor_id": session.advisor_id,
        "status": session.status,
        "started_at": iso_ms(session.started_at_ms),
        "ended_at": iso_ms(session.ended_at_ms),
        "end_reason": session.end_reason,
        "server_time": iso_ms(now_ms),
        "elapsed_seconds": _seconds(elapsed_ms(session, balance, now_ms)),
        "rate_per_minute": session.rate_per_minute,
        "billed_minutes": session.billed_minutes,
        "charged": session.charged,
        "seconds_remaining": _seconds(remaining),
        # What "no activity" means for this service: the page says it when end_reason is idle.
        "idle_timeout_seconds": idle_seconds,
        "timer": {
            "state": "running" if running else "stopped",
            "initialized": "at_creation" if session.timer_init == AT_CREATION else "legacy",
        },
    }
    if caller_id == session.user_id:
        view["balance"] = balance
    return view
