"""A session as the rules see it, independent of how it is stored."""

from dataclasses import dataclass, field, replace
from typing import Any, FrozenSet, Mapping, Optional

ACTIVE = "active"
ENDED = "ended"

END_BY_USER = "user"
END_BY_ADVISOR = "advisor"
END_CREDITS_EXHAUSTED = "credits_exhausted"
END_IDLE = "idle"  # its user was not seen for SESSION_IDLE_SECONDS

# How a session's timer start was decided (logged, and shown as timer.initialized).
AT_CREATION = "at_creation"
LEGACY_TIMER_START = "legacy_timer_start"
LEGACY_CREATED_AT = "legacy_created_at"

CURRENT_SCHEMA = 2


@dataclass(frozen=True)
class Session:
    """A session as the rules see it: who, at what rate, since when, and what was billed."""

    session_id: str
    user_id: str
    advisor_id: str
    status: str
    started_at_ms: int
    rate_per_minute: int
    billed_minutes: int = 0
    charged: int = 0
    ended_at_ms: Optional[int] = None
    end_reason: Optional[str] = None
    timer_init: str = AT_CREATION
    schema_version: int = CURRENT_SCHEMA
    # What the previous release had charged before the upgrade; its ledger is not ours.
    legacy_charged: int = 0
    # Schema 1 only: when the old release wrote the record (its timer may have started later).
    legacy_created_at_ms: Optional[int] = None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_legacy_unupgraded(self) -> bool:
        return self.schema_version < CURRENT_SCHEMA

    def with_changes(self, **changes: Any) -> "Session":
        return replace(self, **changes)


@dataclass(frozen=True)
class Account:
    """A user's balance and the sessions that count as theirs while active.

    `active_sessions` is a set, not one id: a schema-1 session upgraded while a new one runs
    must count too, and every end removes only its own id, so no end has to guess what the
    marker holds. `single_marker` is the one-id attribute builds before the set wrote: read as
    a member, removed by the end of the session it names, never written.
    """

    user_id: str
    balance: int = 0
    active_sessions: FrozenSet[str] = frozenset()
    single_marker: Optional[str] = None
    # When each active session's user was last seen (the idle rule), by session id. A session
    # is missing until this release first records it (the start does, from the start on).
    last_seen: Mapping[str, int] = field(default_factory=dict)

    def last_seen_of(self, session_id: str) -> Optional[int]:
        return self.last_seen.get(session_id)

    @property
    def markers(self) -> FrozenSet[str]:
        return self.active_sessions | ({self.single_marker} if self.single_marker else frozenset())


@dataclass(frozen=True)
class Advisor:
    """An advisor as stored: the rate a session with them starts at."""

    advisor_id: str
    # None: the stored rate is one no session may start at (domain/rates.py).
    rate_per_minute: Optional[int]
    display_name: str = ""
