"""Time as the services see it: a function returning epoch milliseconds, injected everywhere
so that tests move it by hand instead of sleeping."""

import time
from typing import Callable

Clock = Callable[[], int]


def system_clock() -> int:
    return time.time_ns() // 1_000_000
