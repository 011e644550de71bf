"""Schema-1 items in DynamoDB: how one reads as a session, and the conditions and attributes of
its upgrade in place. store/records.py hands every item without `schema_version` to this module.
"""

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from pynamodb.expressions.condition import Condition

from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.domain.instants import day_of, iso_ms, seconds_to_ms
from chalicelib.domain.session import (
    ACTIVE,
    CURRENT_SCHEMA,
    ENDED,
    LEGACY_CREATED_AT,
    LEGACY_TIMER_START,
    Session,
)
from chalicelib.store.models import SessionItem


def legacy_start(item: SessionItem) -> Tuple[int, str]:
    """The old timer's start if it had one, else the record's creation (both epoch seconds)."""
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
        raise LegacyRecordUnusable(text["session_id"] or "", wrong[0], text["user_id"], text["advisor_id"])
    return SessionItem.from_raw_data(raw)


class Timing(NamedTuple):
    """The Session fields a schema-1 item gives differently from a schema-2 one."""

    started_at_ms: int
    timer_init: str
    schema_version: int
    legacy_charged: int  # what the previous release charged: its ledger is not ours


def legacy_timing(item: SessionItem) -> Timing:
    """A schema-1 item's start, how it was found, and what it had charged. Raises
    LegacyRecordUnusable."""
    problem = legacy_problem(item)
    if problem is not None:
        raise LegacyRecordUnusable(item.session_id, problem, item.user_id, item.advisor_id)
    started_at_ms, how = legacy_start(item)
    return Timing(started_at_ms, how, schema_version=1, legacy_charged=int(item.charged or 0))


def legacy_upgrade_actions(session: Session, active_shard: Optional[int], now_ms: int, books: bool = True) -> List[Any]:
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


def _holds(attribute: Any, value: int) -> Condition:
    """The stored number is `value`; a missing one reads as 0, as the previous release wrote it."""
    return (attribute == value) | attribute.does_not_exist() if value == 0 else attribute == value


def legacy_as_read(session: Session) -> Condition:
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
