"""Translation between stored items (either schema) and the domain's Session/Account/Advisor."""
import zlib
from typing import Any, Dict, Optional

from chalicelib.domain.instants import day_of, iso_ms, seconds_to_ms
from chalicelib.domain.session import (
    AT_CREATION,
    CURRENT_SCHEMA,
    LEGACY_CREATED_AT,
    LEGACY_TIMER_START,
    Account,
    Advisor,
    Session,
)
from chalicelib.store.models import AccountItem, AdvisorItem, SessionItem


def shard_of(session_id: str, shards: int) -> int:
    """Stable across processes (unlike hash()), so a session keeps its shard for life."""
    return zlib.crc32(session_id.encode()) % shards


def legacy_start(item: SessionItem):
    """SPEC's schema-1 rule: the old timer's start if it had one, else the record's creation."""
    if item.timer_start is not None:
        return seconds_to_ms(item.timer_start), LEGACY_TIMER_START
    return seconds_to_ms(item.created_at or 0), LEGACY_CREATED_AT


def to_session(item: SessionItem) -> Session:
    if item.schema_version is None:
        started_at_ms, how = legacy_start(item)
        schema, legacy_charged = 1, int(item.charged or 0)
    else:
        started_at_ms, how = int(item.started_at_ms), item.timer_init or AT_CREATION
        schema, legacy_charged = int(item.schema_version), int(item.legacy_charged or 0)
    return Session(
        session_id=item.session_id,
        user_id=item.user_id,
        advisor_id=item.advisor_id,
        status=item.status,
        started_at_ms=started_at_ms,
        rate_per_minute=int(item.rate_per_minute),
        billed_minutes=int(item.billed_minutes or 0),
        charged=int(item.charged or 0),
        ended_at_ms=None if item.ended_at_ms is None else int(item.ended_at_ms),
        end_reason=item.end_reason,
        timer_init=how,
        schema_version=schema,
        legacy_charged=legacy_charged,
        legacy_created_at_ms=None if item.created_at is None else seconds_to_ms(item.created_at),
    )


def new_session_item(session: Session, shards: int) -> SessionItem:
    """The creating write: it already holds the timer's start (SPEC timer rule 1)."""
    return SessionItem(
        session_id=session.session_id,
        user_id=session.user_id,
        advisor_id=session.advisor_id,
        status=session.status,
        rate_per_minute=session.rate_per_minute,
        schema_version=CURRENT_SCHEMA,
        started_at_ms=session.started_at_ms,
        started_at=iso_ms(session.started_at_ms),
        started_day=day_of(session.started_at_ms),
        timer_init=session.timer_init,
        active_shard=shard_of(session.session_id, shards),
        billed_minutes=session.billed_minutes,
        charged=session.charged,
    )


def to_account(item: Optional[AccountItem], user_id: str) -> Account:
    """A user with no account item has balance 0 (SPEC)."""
    if item is None:
        return Account(user_id=user_id)
    return Account(
        user_id=item.user_id,
        balance=int(item.balance or 0),
        active_session_id=item.active_session_id,
    )


def to_advisor(item: Optional[AdvisorItem]) -> Optional[Advisor]:
    if item is None:
        return None
    return Advisor(
        advisor_id=item.advisor_id,
        rate_per_minute=int(item.rate_per_minute),
        display_name=item.display_name or "",
    )


def from_raw(model, raw: Optional[Dict[str, Any]]):
    return None if raw is None else model.from_raw_data(raw)
