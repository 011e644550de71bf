"""Use cases: start, poll, end, bill. Each takes a store and a clock (epoch ms), nothing global."""
import time
from typing import Callable

Clock = Callable[[], int]


def system_clock() -> int:
    return time.time_ns() // 1_000_000
