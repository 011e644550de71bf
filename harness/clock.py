"""A clock the tests move by hand: services take it in place of the wall clock."""

# 2027-01-15T08:00:00.000Z: a fixed, readable instant.
START_MS = 1_800_000_000_000


class FakeClock:
    def __init__(self, now_ms: int = START_MS):
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float = 0, ms: int = 0) -> int:
        self.now_ms += int(round(seconds * 1000)) + ms
        return self.now_ms
