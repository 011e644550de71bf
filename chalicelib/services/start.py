"""POST /sessions: the creating write is the timer's start."""

import uuid
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.errors import (
    ActiveSessionExists,
    AdvisorNotFound,
    AdvisorUnavailable,
    DomainError,
    InsufficientCredit,
    InvalidRequest,
    LegacyRecordUnusable,
    SessionIdTaken,
)
from chalicelib.domain.session import ACTIVE, AT_CREATION, Account, Advisor, Session
from chalicelib.domain.validation import StartRequest
from chalicelib.services.end import end_if_idle, view_of
from chalicelib.services.poll import poll_session
from chalicelib.services.ports import SessionExists, Snapshot, Store

TAKEN = "this session_id belongs to another session"


@dataclass(frozen=True)
class Started:
    """A start's answer: the session's view, and whether this request created it (201) or
    found it already there (200)."""

    view: Dict[str, Any]
    created: bool


def _repeat(store: Store, clock: Clock, existing: Session, caller_id: str) -> Started:
    """A repeated session_id: the same user gets the stored session back, timer untouched.
    Shown as a poll shows it, from a snapshot: the start's own read is not one, and a charge
    landing between its items would show a credit cap a minute too low."""
    if existing.user_id != caller_id:
        raise SessionIdTaken(TAKEN)
    return Started(poll_session(store, clock, caller_id, existing.session_id), created=False)


def _check_can_start(
    store: Store, request: StartRequest, advisor: Optional[Advisor], account: Account, caller_id: str
) -> Tuple[str, int]:
    """The advisor and the rate the session starts at; raises why the user cannot start one now."""
    if request.advisor_problem:
        raise InvalidRequest(request.advisor_problem)
    if advisor is None:
        raise AdvisorNotFound("no such advisor")
    if advisor.advisor_id == caller_id:
        raise InvalidRequest("a user cannot start a session with themselves")
    if advisor.rate_per_minute is None:
        # Before anything is written: a negative rate would credit the user every minute.
        raise AdvisorUnavailable("this advisor cannot be booked right now")
    if account.markers:
        # Only a marker naming an active session refuses the start. One naming an ended
        # session (left by earlier builds) would lock the user out for ever: the start's
        # own write replaces it, conditioned on the markers being exactly those read here.
        active = store.first_active(account.markers)
        if active is not None:
            raise ActiveSessionExists(active)
    if account.balance < advisor.rate_per_minute:
        raise InsufficientCredit("the balance does not cover one minute at the advisor's rate")
    return advisor.advisor_id, advisor.rate_per_minute


def _ended_as_idle(store: Store, clock: Clock, caller_id: str, session_id: str) -> bool:
    try:
        session, _ = end_if_idle(store, clock, caller_id, session_id)
    except DomainError:  # a record to repair, say: the marker keeps refusing, as before
        return False
    return not session.is_active


def _decision_read(store: Store, request: StartRequest, caller_id: str) -> Snapshot:
    """What the start decides from. A session_id naming someone else's record is theirs
    whatever it holds: a schema-1 record too broken to read is still only "taken" to a
    stranger, never a description of what is wrong with it."""
    try:
        return store.read(session_id=request.session_id, user_id=caller_id, advisor_id=request.advisor_id)
    except LegacyRecordUnusable as unusable:
        if unusable.user_id != caller_id:
            raise SessionIdTaken(TAKEN) from unusable
        raise  # the record's own user is told it needs repair, as a poll would tell them


def start_session(
    store: Store,
    clock: Clock,
    caller_id: str,
    request: StartRequest,
    request_time_ms: Optional[int] = None,
    handled_at_ms: Optional[int] = None,
) -> Started:
    # The timer starts when the request is handled (`handled_at_ms`: when the API first saw
    # it), before anything that takes time: the page started its own timer at load, and
    # every millisecond spent here would show up as the backend being behind it.
    now = clock() if handled_at_ms is None else handled_at_ms
    # One read for everything the decision needs: the advisor's rate, the balance and active
    # marker, and (for an idempotency key) whether that session already exists.
    snap = _decision_read(store, request, caller_id)
    if snap.session is not None:
        return _repeat(store, clock, snap.session, caller_id)
    account = snap.account or Account(user_id=caller_id)
    try:
        advisor_id, rate = _check_can_start(store, request, snap.advisor, account, caller_id)
    except ActiveSessionExists as busy:
        # A session its user left is over even if nothing wrote its end yet: end it now and
        # decide again from what is stored after that end.
        if not _ended_as_idle(store, clock, caller_id, busy.active_session_id):
            raise
        snap = _decision_read(store, request, caller_id)
        account = snap.account or Account(user_id=caller_id)
        advisor_id, rate = _check_can_start(store, request, snap.advisor, account, caller_id)
    session = Session(
        session_id=request.session_id or uuid.uuid4().hex,
        user_id=caller_id,
        advisor_id=advisor_id,
        status=ACTIVE,
        started_at_ms=now,
        rate_per_minute=rate,
        timer_init=AT_CREATION,
    )
    try:
        # Seen when the write is sent, not at the timer's start: a start slowed by its reads
        # (retries, a cold client) must not create a session already near its idle instant,
        # whose next poll would then show less time than this answer.
        store.create_session(session, min_balance=session.rate_per_minute, account=account, seen_at_ms=clock())
    except SessionExists as raced:
        return _repeat(store, clock, raced.session, caller_id)
    if request_time_ms is not None:
        observability.timer_started(session, now - request_time_ms, lag_source="request_time")
    else:
        observability.timer_started(session, None, lag_source="unknown")
    # The view is computed now, after the write: server_time is when this answer was made,
    # and elapsed already counts the time the write took (the page snaps to it).
    return Started(view_of(store, session, account.balance, caller_id, clock()), created=True)
