"""A request's items are read once, from DynamoDB JSON straight into the domain's objects
(store/records.py): the same sessions, accounts and advisors, and the same refusals, as
reading them through PynamoDB's models first."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynamodb.exceptions import AttributeDeserializationError

from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.store.models import AccountItem, AdvisorItem, SessionItem
from chalicelib.store.records import (
    _number,
    account_from_raw,
    from_raw,
    last_seen_in,
    session_from_raw,
    to_account,
    to_advisor,
    to_session,
)


def through_the_model(raw):
    return to_session(from_raw(SessionItem, raw))


numbers = st.integers(-(10**15), 10**15).map(str) | st.sampled_from(["0", "-0", "1.5", "1E+3", "12.000"])
strings = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)


@st.composite
def session_items(draw):
    raw = {
        "session_id": {"S": draw(strings)},
        "user_id": {"S": draw(strings)},
        "advisor_id": {"S": draw(strings)},
        "status": {"S": draw(st.sampled_from(["active", "ended"]))},
        "rate_per_minute": {"N": draw(st.integers(0, 10_000).map(str))},
        "schema_version": {"N": "2"},
        "started_at_ms": {"N": draw(st.integers(0, 4_102_444_800_000).map(str))},
    }
    optional = {
        "started_at": {"S": "2026-12-08T01:00:00.000Z"},
        "started_day": {"S": "2026-12-08"},
        "timer_init": {"S": draw(st.sampled_from(["at_creation", "legacy_timer_start", "legacy_created_at"]))},
        "active_shard": {"N": draw(st.integers(0, 511).map(str))},
        "billed_minutes": {"N": draw(numbers)},
        "charged": {"N": draw(numbers)},
        "ended_at_ms": {"N": draw(st.integers(0, 4_102_444_800_000).map(str))},
        "end_reason": {"S": draw(st.sampled_from(["user", "advisor", "idle", "credits_exhausted"]))},
        "legacy_charged": {"N": draw(st.integers(0, 10_000).map(str))},
        "created_at": {"N": "1700000000.25"},
        "not_in_the_model": {"S": "ignored"},
        "timer_start": {"NULL": True},
    }
    for name in draw(st.sets(st.sampled_from(sorted(optional)))):
        raw[name] = optional[name]
    return raw


@settings(max_examples=300, deadline=None)
@given(session_items())
def test_a_session_item_reads_as_through_its_model(raw):
    assert session_from_raw(raw) == through_the_model(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"user_id": st.just({"S": "u-1"})},
        optional={
            "balance": numbers.map(lambda n: {"N": n}),
            "debited": numbers.map(lambda n: {"N": n}),
            "active_sessions": st.sets(strings, min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
            "active_session_id": strings.map(lambda s: {"S": s}),
            "last_seen:s-1": st.integers(0, 10**13).map(lambda n: {"N": str(n)}),
        },
    )
)
def test_an_account_item_reads_as_through_its_model(raw):
    expected = to_account(AccountItem.from_raw_data(raw), "u-1", last_seen_in(raw))
    assert account_from_raw(raw, "u-1") == expected


def test_no_account_item_is_a_zero_balance():
    assert account_from_raw(None, "u-1") == to_account(None, "u-1", {})


def test_a_schema1_item_is_read_through_the_legacy_rules():
    raw = {
        "session_id": {"S": "legacy-1"},
        "user_id": {"S": "u-1"},
        "advisor_id": {"S": "a-1"},
        "status": {"S": "active"},
        "rate_per_minute": {"N": "150"},
        "created_at": {"N": "1700000000"},
    }
    assert session_from_raw(raw) == through_the_model(raw)
    assert session_from_raw(raw).schema_version == 1
    with pytest.raises(LegacyRecordUnusable):
        session_from_raw({**raw, "rate_per_minute": {"S": "150"}})


@pytest.mark.parametrize(
    "name, value",
    [("rate_per_minute", {"S": "199"}), ("user_id", {"N": "5"}), ("started_at_ms", {"S": "x"})],
)
def test_a_value_of_another_type_is_refused_as_the_model_refuses_it(name, value):
    raw = {
        "session_id": {"S": "s-1"},
        "user_id": {"S": "u-1"},
        "advisor_id": {"S": "a-1"},
        "status": {"S": "active"},
        "rate_per_minute": {"N": "199"},
        "schema_version": {"N": "2"},
        "started_at_ms": {"N": "1"},
        name: value,
    }
    with pytest.raises(AttributeDeserializationError):
        SessionItem.from_raw_data(raw)
    with pytest.raises(AttributeDeserializationError):
        session_from_raw(raw)


def test_an_advisor_whose_rate_is_not_a_number_has_no_bookable_rate():
    advisor = to_advisor({"advisor_id": {"S": "a-1"}, "rate_per_minute": {"S": "199"}})
    assert (advisor.advisor_id, advisor.rate_per_minute) == ("a-1", None)
    stored = {"advisor_id": {"S": "a-1"}, "rate_per_minute": {"N": "199"}, "display_name": {"S": "Ann"}}
    advisor = to_advisor(stored)
    item = AdvisorItem.from_raw_data(stored)
    assert (advisor.rate_per_minute, advisor.display_name) == (item.rate_per_minute, item.display_name)


def _outcome(parse, text):
    try:
        value = parse(text)
    except Exception as error:  # the same kind of refusal, whatever it is
        return "refused", type(error)
    return value, type(value)


@pytest.mark.parametrize(
    "text",
    ["0", "-0", "7", "-7", "05", "-05", "00", "1796693260630", "1.5", "-1.5", "1e3", "1E+3", " 5", "5 ", "+5"]
    + ["٥", "", "-", "--5", "9" * 60, "0.0", "12a", "NaN", "Infinity", "1" * 5000],
)
def test_a_number_is_what_json_makes_of_it(text):
    # NumberAttribute.deserialize is json.loads; the integer shortcut must not differ from it.
    assert _outcome(_number, text) == _outcome(json.loads, text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="-+0123456789.eE ", max_size=12) | st.integers().map(str))
def test_any_number_text_is_what_json_makes_of_it(text):
    assert _outcome(_number, text) == _outcome(json.loads, text)
