"""Translation between stored items and the domain's Session, Account, Advisor and Charge.

Items without `schema_version` (schema 1) are read by legacy/records.py."""

import zlib
from typing import Any, Dict, Optional

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import AttributeDeserializationError
from pynamodb.expressions.operand import Path

from chalicelib.domain.billing import Charge
from chalicelib.domain.instants import day_of, iso_ms, seconds_to_ms
from chalicelib.domain.rates import bookable_rate
from chalicelib.domain.session import AT_CREATION, CURRENT_SCHEMA, Account, Advisor, Session
from chalicelib.legacy.records import Timing, legacy_item, legacy_timing
from chalicelib.store.models import LAST_SEEN_PREFIX, AccountItem, AdvisorItem, LedgerItem, SessionItem


def shard_of(session_id: str, shards: int) -> int:
    """Stable across processes (unlike hash()), so a session keeps its shard for life."""
    return zlib.crc32(session_id.encode()) % shards


def to_session(item: SessionItem) -> Session:
    if item.schema_version is None:
        timing = legacy_timing(item)  # schema 1
    else:
        timing = Timing(
            started_at_ms=int(item.started_at_ms),
            timer_init=item.timer_init or AT_CREATION,
            schema_version=int(item.schema_version),
            legacy_charged=int(item.legacy_charged or 0),
        )
    return Session(
        session_id=item.session_id,
        user_id=item.user_id,
        advisor_id=item.advisor_id,
        status=item.status,
        rate_per_minute=int(item.rate_per_minute),
        billed_minutes=int(item.billed_minutes or 0),
        charged=int(item.charged or 0),
        ended_at_ms=None if item.ended_at_ms is None else int(item.ended_at_ms),
        end_reason=item.end_reason,
        legacy_created_at_ms=None if item.created_at is None else seconds_to_ms(item.created_at),
        started_at_ms=timing.started_at_ms,
        timer_init=timing.timer_init,
        schema_version=timing.schema_version,
        legacy_charged=timing.legacy_charged,
    )


def new_session_item(session: Session, shards: int) -> SessionItem:
    """The creating write: it already holds the timer's start."""
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


def to_account(item: Optional[AccountItem], user_id: str, last_seen: Optional[Dict[str, int]] = None) -> Account:
    """A user with no account item has balance 0 (docs/contract.md)."""
    if item is None:
        return Account(user_id=user_id)
    return Account(
        user_id=item.user_id,
        balance=int(item.balance or 0),
        active_sessions=frozenset(item.active_sessions or ()),
        single_marker=item.active_session_id,
        last_seen=last_seen or {},
    )


def account_from_raw(raw: Optional[Dict[str, Any]], user_id: str) -> Account:
    """An account item as DynamoDB returned it, its sessions' last-seen attributes included
    (the model cannot declare them: their names hold the session ids)."""
    return to_account(from_raw(AccountItem, raw), user_id, last_seen_in(raw or {}))


def last_seen_in(raw: Dict[str, Any]) -> Dict[str, int]:
    return {
        name[len(LAST_SEEN_PREFIX) :]: int(value["N"])
        for name, value in raw.items()
        if name.startswith(LAST_SEEN_PREFIX) and "N" in value
    }


def last_seen_path(session_id: str) -> Path:
    """The account attribute holding when a session's user was last seen. Top-level, one per
    active session: a nested map would need its parent to exist before any write to it."""
    return Path(NumberAttribute(attr_name=LAST_SEEN_PREFIX + session_id))


def to_advisor(raw: Optional[Dict[str, Any]]) -> Optional[Advisor]:
    """An advisor item as stored. One whose rate cannot be read as a number (missing, or of
    another DynamoDB type) is an advisor with no bookable rate, like one with a negative rate:
    the start refuses it with a 4xx instead of failing with a 500."""
    if raw is None:
        return None
    try:
        item = AdvisorItem.from_raw_data(raw)
    except AttributeDeserializationError:
        return Advisor(advisor_id=raw["advisor_id"]["S"], rate_per_minute=None)
    return Advisor(
        advisor_id=item.advisor_id,
        rate_per_minute=bookable_rate(item.rate_per_minute),
        display_name=item.display_name or "",
    )


def from_raw(model, raw: Optional[Dict[str, Any]]):
    if raw is None:
        return None
    if model is SessionItem and "schema_version" not in raw:
        return legacy_item(raw)  # schema 1
    return model.from_raw_data(raw)


def ledger_item(charge: Charge) -> LedgerItem:
    """One ledger entry per charge, keyed by (session, first minute charged): a charge that is
    committed twice collides with itself."""
    return LedgerItem(
        session_id=charge.session_id,
        first_minute=charge.first_minute,
        user_id=charge.user_id,
        minutes=charge.minutes,
        amount=charge.amount,
        rate_per_minute=charge.rate_per_minute,
        charged_at_ms=charge.charged_at_ms,
        charged_at=iso_ms(charge.charged_at_ms),
        kind=charge.end_reason or "billing",
    )
