"""Translation between stored items and the domain's Session, Account, Advisor and Charge.

Items without `schema_version` (schema 1) are read by legacy/records.py, imported when one is
met: the API's cold start does not load the previous release's rules.

A request's items are read once, from DynamoDB JSON into the domain's objects
(`session_from_raw`, `account_from_raw`, `to_advisor`): each attribute is deserialised
by the model's own PynamoDB attribute, exactly as `Model.from_raw_data` would, but without
building a model instance only to copy it into the domain object.
"""

import json
import zlib
from types import SimpleNamespace
from typing import Any, Callable, Dict, Optional, Tuple

from pynamodb.attributes import Attribute, NumberAttribute
from pynamodb.constants import NULL
from pynamodb.exceptions import AttributeDeserializationError
from pynamodb.expressions.operand import Path

from chalicelib.domain.billing import Charge
from chalicelib.domain.instants import day_of, iso_ms, seconds_to_ms
from chalicelib.domain.rates import bookable_rate
from chalicelib.domain.session import AT_CREATION, CURRENT_SCHEMA, Account, Advisor, Session
from chalicelib.store.models import LAST_SEEN_PREFIX, AccountItem, AdvisorItem, LedgerItem, SessionItem


def shard_of(session_id: str, shards: int) -> int:
    """Stable across processes (unlike hash()), so a session keeps its shard for life."""
    return zlib.crc32(session_id.encode()) % shards


def to_session(item: Any) -> Session:
    """The Session of a SessionItem (or of its `_fields`)."""
    if item.schema_version is None:
        from chalicelib.legacy.records import legacy_timing  # schema 1

        timing = legacy_timing(item)
        started_at_ms, timer_init = timing.started_at_ms, timing.timer_init
        schema_version, legacy_charged = timing.schema_version, timing.legacy_charged
    else:
        started_at_ms, timer_init = int(item.started_at_ms), item.timer_init or AT_CREATION
        schema_version, legacy_charged = int(item.schema_version), int(item.legacy_charged or 0)
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
        started_at_ms=started_at_ms,
        timer_init=timer_init,
        schema_version=schema_version,
        legacy_charged=legacy_charged,
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


def to_account(item: Optional[Any], user_id: str, last_seen: Optional[Dict[str, int]] = None) -> Account:
    """A user with no account item has balance 0 (docs/contract.md). `item`: an AccountItem
    or its `_fields`."""
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
    if raw is None:
        return to_account(None, user_id, {})
    return to_account(_fields(AccountItem, raw), user_id, last_seen_in(raw))


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
        item = _fields(AdvisorItem, raw)
    except AttributeDeserializationError:
        return Advisor(advisor_id=raw["advisor_id"]["S"], rate_per_minute=None)
    return Advisor(
        advisor_id=item.advisor_id,
        rate_per_minute=bookable_rate(item.rate_per_minute),
        display_name=item.display_name or "",
    )


def from_raw(model, raw: Optional[Dict[str, Any]]):
    """A model instance of an item as DynamoDB returned it (None stays None)."""
    if raw is None:
        return None
    if model is SessionItem and "schema_version" not in raw:
        from chalicelib.legacy.records import legacy_item  # schema 1

        return legacy_item(raw)
    return model.from_raw_data(raw)


def session_from_raw(raw: Optional[Dict[str, Any]]) -> Optional[Session]:
    """The session of an item as DynamoDB returned it, or None. Raises LegacyRecordUnusable
    for a schema-1 item no session can be read from."""
    if raw is None:
        return None
    if "schema_version" not in raw:
        return to_session(from_raw(SessionItem, raw))  # schema 1: through its model
    return to_session(_fields(SessionItem, raw))


def _number(text: Any) -> Any:
    """NumberAttribute.deserialize, which is json.loads: an integer's digits (what every number
    of ours is) are int() of them without the JSON parser; anything else goes to json.loads."""
    if type(text) is str:
        digits = text[1:] if text[:1] == "-" else text
        # JSON's integers: ASCII digits, no leading zero ("05" and "٥" are refused by it).
        if digits.isascii() and digits.isdigit() and (digits[0] != "0" or len(digits) == 1):
            return int(text)
    return json.loads(text)


# Per model: each attribute's Python name, its name in the item, the attribute, how its value
# is deserialised, its default.
_Layout = Tuple[Tuple[str, str, Attribute, Callable[[Any], Any], Any], ...]
_layouts: Dict[type, _Layout] = {}


def _layout(model: type) -> _Layout:
    layout = _layouts.get(model)
    if layout is None:
        layout = _layouts[model] = tuple(
            (
                name,
                attribute.attr_name,
                attribute,
                _number if type(attribute) is NumberAttribute else attribute.deserialize,
                attribute.default,
            )
            for name, attribute in model.get_attributes().items()  # type: ignore[attr-defined]
        )
    return layout


def _fields(model: type, raw: Dict[str, Any]) -> SimpleNamespace:
    """The model's attributes of `raw`, as `model.from_raw_data(raw)` holds them: the same
    deserialisers, defaults and AttributeDeserializationError for a value of another type;
    attributes the model does not declare are left out, as it leaves them."""
    values: Dict[str, Any] = {}
    for name, attr_name, attribute, deserialize, default in _layout(model):
        value = raw.get(attr_name)
        if value and NULL not in value:
            values[name] = deserialize(attribute.get_value(value))
        else:
            values[name] = default() if callable(default) else default
    return SimpleNamespace(**values)


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
