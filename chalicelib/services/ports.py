"""What the services need from storage: the `Store` protocol they are typed against.

store/dynamo.py's DynamoStore is the real one; the tests' in-memory store (harness) is checked
against this shape too. Types that cross the boundary (Snapshot, SessionExists) live here, so
the services never import the store.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, FrozenSet, Iterator, Optional, Protocol

from chalicelib.domain.billing import Charge
from chalicelib.domain.session import Account, Advisor, Session
from chalicelib.settings import Settings

if TYPE_CHECKING:  # schema 1: the API imports legacy/ only when it meets such a record
    from chalicelib.legacy.upgrade import Upgraded


@dataclass(frozen=True)
class Snapshot:
    """The items a start decides on, each as it is (not one instant: the start's write is
    conditioned on what it decided from). Only the items asked for are read."""

    session: Optional[Session] = None
    account: Optional[Account] = None
    advisor: Optional[Advisor] = None


@dataclass(frozen=True)
class View:
    """A session and its user's account at one instant: what a poll or an end decides on.
    A user without an account item has a zero balance, never no account."""

    session: Optional[Session]
    account: Account


class SessionExists(Exception):
    """The session_id is already stored; the service decides between 200 and 409."""

    def __init__(self, session: Session):
        super().__init__(session.session_id)
        self.session = session


class Store(Protocol):
    settings: Settings

    def view(self, session_id: str, user_id: str) -> View:
        """A session and one user's account at one instant: a poll's or an end's read."""
        ...

    def read(
        self, session_id: Optional[str] = None, user_id: Optional[str] = None, advisor_id: Optional[str] = None
    ) -> Snapshot:
        """The items a start decides on, consistent but not at one instant."""
        ...

    def session(self, session_id: str) -> Optional[Session]: ...

    def first_active(self, session_ids: FrozenSet[str]) -> Optional[str]:
        """Which of these sessions is still active, if any."""
        ...

    def active_sessions(self, shard: int, forward: bool = True) -> Iterator[Session]:
        """The active sessions of one billing shard, by start."""
        ...

    def create_session(self, session: Session, min_balance: int, account: Account, seen_at_ms: int) -> None:
        """The session, the account's active set and its user's first sighting (`seen_at_ms`),
        in one write. Raises SessionExists, ActiveSessionExists or InsufficientCredit."""
        ...

    def record_seen(self, session: Session, last_seen_ms: Optional[int], now_ms: int) -> bool:
        """The user seen now, if their last-seen is still `last_seen_ms` and the session still
        active; False when refused."""
        ...

    def commit_charge(self, session: Session, charge: Charge, drop_single_marker: bool = False) -> None:
        """A charge (and maybe the end) in one write guarded by what was read; ChargeConflict
        when someone else moved first."""
        ...

    def upgrade_legacy(self, session: Session, now_ms: int) -> "Upgraded":
        """Schema 1: a record's upgrade in place, conditioned on the record as read."""
        ...

    def connect(self) -> None:
        """Build the clients now, before threads share the store."""
        ...
