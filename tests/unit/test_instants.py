"""Epoch ms and their ISO twins; schema-1 epoch seconds (maybe fractional) to exact ms."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.instants import day_of, iso_ms, seconds_to_ms

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "epoch_ms, iso",
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1_000, "1970-01-01T00:00:01.000Z"),
        (1_795_810_467_001, "2026-11-27T20:14:27.001Z"),
        (1_795_810_467_999, "2026-11-27T20:14:27.999Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),  # leap day
        (1_798_761_599_999, "2026-12-31T23:59:59.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_iso_ms_known_instants(epoch_ms, iso):
    assert iso_ms(epoch_ms) == iso


def test_iso_ms_none_stays_none():
    assert iso_ms(None) is None


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4_102_444_800_000))  # up to 2100
def test_iso_ms_round_trips_exactly(epoch_ms):
    iso = iso_ms(epoch_ms)
    assert iso.endswith("Z") and len(iso) == len("2026-11-27T20:14:27.001Z")
    parsed = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert (parsed - EPOCH) // timedelta(milliseconds=1) == epoch_ms


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4_102_444_800_000))
def test_iso_ms_does_not_round_through_float(epoch_ms):
    # The millisecond digits are the exact remainder, not a float's rounding of it.
    assert iso_ms(epoch_ms)[-4:-1] == f"{epoch_ms % 1000:03d}"


@pytest.mark.parametrize(
    "epoch_ms, day",
    [
        (0, "1970-01-01"),
        (1_795_810_467_001, "2026-11-27"),
        (1_795_823_999_999, "2026-11-27"),  # 23:59:59.999
        (1_795_824_000_000, "2026-11-28"),  # midnight UTC starts the next day
        (951_782_400_000, "2000-02-29"),
    ],
)
def test_day_of(epoch_ms, day):
    assert day_of(epoch_ms) == day


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4_102_444_800_000))
def test_day_of_is_the_date_of_the_iso_twin(epoch_ms):
    assert day_of(epoch_ms) == iso_ms(epoch_ms)[:10]


@pytest.mark.parametrize(
    "seconds, ms",
    [
        (1700000000, 1_700_000_000_000),
        (1700000000.1234, 1_700_000_000_123),
        (Decimal("1700000000.1234"), 1_700_000_000_123),
        ("1700000000.1234", 1_700_000_000_123),
        (1700000000.5, 1_700_000_000_500),
        (1700000000.001, 1_700_000_000_001),  # the float 0.001 is not exact
        (1700000000.999, 1_700_000_000_999),
        (1700000000.123456, 1_700_000_000_123),
        ("1700000000", 1_700_000_000_000),
        (Decimal("1700000000"), 1_700_000_000_000),
        (0, 0),
    ],
)
def test_seconds_to_ms(seconds, ms):
    result = seconds_to_ms(seconds)
    assert type(result) is int
    assert result == ms


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4_102_444_800_000))
def test_seconds_to_ms_is_exact_for_every_whole_ms_in_any_form(epoch_ms):
    text = f"{epoch_ms // 1000}.{epoch_ms % 1000:03d}"
    assert seconds_to_ms(text) == epoch_ms
    assert seconds_to_ms(Decimal(text)) == epoch_ms
    assert seconds_to_ms(float(text)) == epoch_ms


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4_102_444_800_000_000))
def test_seconds_to_ms_with_sub_ms_digits_lands_on_a_neighbouring_ms(epoch_us):
    # Epoch seconds with microseconds (time.time() of the previous release): at most one
    # rounding step, never a float's drift.
    text = f"{epoch_us // 1_000_000}.{epoch_us % 1_000_000:06d}"
    result = seconds_to_ms(text)
    assert type(result) is int
    assert epoch_us // 1000 <= result <= -(-epoch_us // 1000)
    assert seconds_to_ms(Decimal(text)) == result


def _strftime_iso(epoch_ms):
    moment = EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@settings(max_examples=500, deadline=None)
@given(st.integers(-62_135_596_800_000, 253_402_300_799_999))  # datetime's whole range, year 1 to 9999
def test_iso_ms_writes_what_strftime_writes_over_every_year(epoch_ms):
    # iso_ms takes isoformat's faster path; years below 1000 keep strftime's unpadded form.
    assert iso_ms(epoch_ms) == _strftime_iso(epoch_ms)


@pytest.mark.parametrize("epoch_ms", [-62_135_596_800_000, -30_610_224_000_001, -30_610_224_000_000, 0])
def test_iso_ms_at_the_year_1000_boundary(epoch_ms):
    assert iso_ms(epoch_ms) == _strftime_iso(epoch_ms)
