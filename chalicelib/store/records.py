"""Translation between stored items (either schema) and the domain's Session/Account/Advisor."""
import zlib
from typing import Any, Dict, Optional

from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.domain.instants import day_of, iso_ms, seconds_to_ms
from chalicelib.domain.session import (
    ACTIVE,
    AT_CREATION,
    CURRENT_SCHEMA,
    ENDED,
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
    return seconds_to_ms(item.created_at), LEGACY_CREATED_AT


def legacy_problem(item: SessionItem) -> Optional[str]:
    """Why a schema-1 item cannot be read as a session, or None. A missing start would
    otherwise become 1970 and bill the whole balance; a missing rate or user would crash."""
    for name in ("user_id", "advisor_id", "status", "rate_per_minute"):
        if getattr(item, name) is None:
            return f"no {name}"
    if item.status not in (ACTIVE, ENDED):
        return f"unknown status {item.status!r}"
    for name in ("rate_per_minute", "billed_minutes", "charged"):
        value = getattr(item, name)
        # Money and minutes are whole; a fraction would be truncated here and then never
        # match the stored value the upgrade is conditioned on.
        if value is not None and (value < 0 or value != int(value)):
            return f"{name} is not a whole number >= 0"
    if item.timer_start is None and item.created_at is None:
        return "neither timer_start nor created_at"
    return None


def legacy_item(raw: Dict[str, Any]) -> SessionItem:
    """A schema-1 item from DynamoDB JSON. Its end time, when it has one, is `ended_at` in
    epoch seconds (N) like its other times, where schema 2 keeps an ISO string there: read it
    as `ended_at_ms` so the model does not refuse the item."""
    ended = raw.get("ended_at") or {}
    if "N" in ended:
        raw = {k: v for k, v in raw.items() if k != "ended_at"}
        raw.setdefault("ended_at_ms", {"N": str(seconds_to_ms(ended["N"]))})
    wrong = [
        f"{name} is not of DynamoDB type {attribute.attr_type}"
        for name, attribute in SessionItem.get_attributes().items()
        if name in raw and attribute.attr_type not in raw[name]
    ]
    if wrong:
        text = {name: (raw.get(name) or {}).get("S") for name in ("session_id", "user_id", "advisor_id")}
        raise LegacyRecordUnusable(text["session_id"], wrong[0], parties=(text["user_id"], text["advisor_id"]))
    return SessionItem.from_raw_data(raw)


def to_session(item: SessionItem) -> Session:
    if item.schema_version is None:
        problem = legacy_problem(item)
        if problem is not None:
            raise LegacyRecordUnusable(item.session_id, problem, parties=(item.user_id, item.advisor_id))
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


def legacy_upgrade_actions(session: Session, active_shard: Optional[int], now_ms: int, books: bool = True) -> list:
    """The schema-2 attributes a schema-1 record gains in place: its start and ISO twin, what
    the indexes need, and (unless a charge in the same write sets them) what was charged,
    carried over unchanged."""
    actions = [
        SessionItem.schema_version.set(CURRENT_SCHEMA),
        SessionItem.started_at_ms.set(session.started_at_ms),
        SessionItem.started_at.set(iso_ms(session.started_at_ms)),
        SessionItem.started_day.set(day_of(session.started_at_ms)),
        SessionItem.timer_init.set(session.timer_init),
        SessionItem.legacy_charged.set(session.legacy_charged),
        SessionItem.upgraded_at.set(iso_ms(now_ms)),
    ]
    if books:
        actions += [
            SessionItem.billed_minutes.set(session.billed_minutes),
            SessionItem.charged.set(session.charged),
        ]
    if session.ended_at_ms is not None:
        actions += [
            SessionItem.ended_at_ms.set(session.ended_at_ms),
            SessionItem.ended_at.set(iso_ms(session.ended_at_ms)),
        ]
    if active_shard is not None:
        actions.append(SessionItem.active_shard.set(active_shard))
    return actions


def _holds(attribute, value: int):
    """The stored number is `value`; a missing one reads as 0 (SPEC: missing = 0)."""
    return (attribute == value) | attribute.does_not_exist() if value == 0 else attribute == value


def legacy_as_read(session: Session):
    """Condition: still schema 1 and unchanged since `session` was read from it. A record that
    is gone fails it too (no status), so the upgrade never creates an item."""
    condition = (
        SessionItem.schema_version.does_not_exist()
        & (SessionItem.status == session.status)
        & _holds(SessionItem.billed_minutes, session.billed_minutes)
        & _holds(SessionItem.charged, session.charged)
    )
    if session.timer_init == LEGACY_CREATED_AT:
        # The old release may still start this timer while it drains; its start would win.
        condition &= SessionItem.timer_start.does_not_exist()
    return condition


def to_account(item: Optional[AccountItem], user_id: str) -> Account:
    """A user with no account item has balance 0 (SPEC)."""
    if item is None:
        return Account(user_id=user_id)
    return Account(
        user_id=item.user_id,
        balance=int(item.balance or 0),
        active_sessions=frozenset(item.active_sessions or ()),
        single_marker=item.active_session_id,
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
    if raw is None:
        return None
    if model is SessionItem and "schema_version" not in raw:
        return legacy_item(raw)
    return model.from_raw_data(raw)
