"""Which stored advisor rates a session may start at (domain/rates.py)."""

from decimal import Decimal

import pytest

from chalicelib.domain.rates import MAX_RATE_PER_MINUTE, bookable_rate


@pytest.mark.parametrize(
    "stored, rate",
    [(0, 0), (199, 199), (MAX_RATE_PER_MINUTE, MAX_RATE_PER_MINUTE), (199.0, 199), (Decimal("250"), 250)],
    ids=["free", "the demo rate", "the bound itself", "a whole float", "a Decimal"],
)
def test_whole_rates_within_the_bound_are_bookable_as_ints(stored, rate):
    assert bookable_rate(stored) == rate
    assert type(bookable_rate(stored)) is int


@pytest.mark.parametrize(
    "stored",
    [-1, -100, 1.5, Decimal("199.01"), MAX_RATE_PER_MINUTE + 1, 10**30, float("inf"), float("nan"), None, "199", True],
    ids=[
        "minus one",
        "negative (credits the user)",
        "fractional",
        "fractional Decimal",
        "one over the bound",
        "absurd",
        "infinite",
        "nan",
        "missing",
        "text",
        "a boolean",
    ],
)
def test_anything_else_is_not_bookable(stored):
    assert bookable_rate(stored) is None
