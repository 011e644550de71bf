"""Which stored advisor rates a session may be started at.

An advisor item is written by people and tools outside this service. A rate that is not a
whole number of minor units, negative (every charge would credit the user) or absurd
(one started minute would take a fortune) is not guessed around: no session starts at it.
"""

import math
from decimal import Decimal
from typing import Optional

# Minor units per minute: 100 000 is 1 000 credits a minute, far above any advisor's price
# (the demo advisor asks 199) and still far from the 64-bit and Number limits of a ledger.
MAX_RATE_PER_MINUTE = 100_000


def bookable_rate(value: object) -> Optional[int]:
    """The rate as an int when a session may start at it, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    rate = int(value)
    return rate if 0 <= rate <= MAX_RATE_PER_MINUTE else None
