"""Time in the tests: one fixed instant, the units they count in, and a clock moved by hand
(services take it in place of the wall clock)."""

from chalicelib.domain.timer import MS_PER_MINUTE

# 2027-01-15T08:00:00.000Z: the one fixed, readable instant every test and benchmark starts at.
START_MS = 1_800_000_000_000
SECOND_MS = 1_000
MINUTE_MS = MS_PER_MINUTE  # the service's own minute, not a copy of it
HOUR_MS = 60 * MINUTE_MS


class FakeClock:
    def __init__(self, now_ms: int = START_MS):
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float = 0, ms: int = 0) -> int:
        self.now_ms += int(round(seconds * SECOND_MS)) + ms
        return self.now_ms
