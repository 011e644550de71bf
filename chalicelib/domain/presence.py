"""Whether a session's user is still there: the idle rule of docs/contract.md.

The paying user's start and polls are what "seen" means; the advisor's polls are not (the
advisor staying is not the user staying). A session not seen for the idle limit is over at
the instant it went idle: last seen + the limit.
"""

from dataclasses import dataclass
from typing import Optional

# SESSION_IDLE_SECONDS unless configured, and the least it may be: below it a page polling every
# second could not keep a session alive through one slow request.
DEFAULT_IDLE_SECONDS = 120
MIN_IDLE_SECONDS = 5

# A poll records "seen" at most this often per idle limit: with the default 120 s and a page
# polling every 15 s, one write every 30 s, and a session is never closer than 3/4 of the
# limit to going idle while its page is open.
HEARTBEATS_PER_LIMIT = 4


@dataclass(frozen=True)
class Presence:
    """What is known of a session's user: the idle limit, and when they were last seen.

    `last_seen_ms` is None when it is not known: not read (a billing run decides from the
    index alone), or never recorded (a session of the previous release until this release
    first polls or bills it). Such a session is not idle.
    """

    idle_ms: int
    last_seen_ms: Optional[int] = None

    @property
    def idle_at_ms(self) -> Optional[int]:
        """The instant the session ends by itself unless its user is seen first."""
        return None if self.last_seen_ms is None else self.last_seen_ms + self.idle_ms

    def is_idle(self, now_ms: int) -> bool:
        idle_at = self.idle_at_ms
        return idle_at is not None and now_ms >= idle_at

    def heartbeat_due(self, now_ms: int) -> bool:
        """Whether a user's poll at `now_ms` records "seen": once per quarter of the limit."""
        if self.last_seen_ms is None:
            return True
        return now_ms - self.last_seen_ms >= self.idle_ms // HEARTBEATS_PER_LIMIT

    def seen_since_ms(self, instant_ms: int) -> int:
        """A charge up to `instant_ms` that is not an idle end is right only if the user was
        seen at or after this (or never recorded): not idle before that instant. The store's
        condition on it."""
        return instant_ms - self.idle_ms
