"""An in-memory Store (chalicelib/services/ports.py) for the billing run's orchestration
tests: no AWS, every answer a charge gets scripted.

tests/unit/test_fake_store.py checks that it has every member of the protocol with the very
same signature, so it cannot drift from what the services are typed against. The members
the billing tests never reach raise NotImplementedError rather than guess.
"""

import dataclasses
from typing import TYPE_CHECKING, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from chalicelib.domain.billing import Charge
from chalicelib.domain.session import Account, Session
from chalicelib.services.ports import Snapshot, View
from chalicelib.settings import Settings, current

if TYPE_CHECKING:  # as in services/ports.py, whose signatures these must equal
    from chalicelib.legacy.upgrade import Upgraded


class FakeStore:
    """Billing shards to read (a session, or an exception to raise at that point of the
    query), answers for commit_charge from a script (an exception to raise, or None to
    accept), and the session a re-read returns (`fresh`). Remembers every charge it was asked
    to commit as (billed minutes read, charge, drop_single_marker)."""

    settings: Settings

    def __init__(
        self,
        shards: Optional[List[list]] = None,
        answers: Sequence[Optional[Exception]] = (),
        fresh: Optional[Session] = None,
    ):
        self.shards = shards or [[]]
        self.settings = dataclasses.replace(current(), active_shards=len(self.shards))
        self.answers = list(answers)
        self.fresh = fresh
        self.commits: List[Tuple[int, Charge, bool]] = []

    # ---- what the billing run uses ------------------------------------------------------

    def active_sessions(self, shard: int, forward: bool = True) -> Iterator[Session]:
        for item in self.shards[shard]:
            if isinstance(item, Exception):
                raise item
            yield item

    def commit_charge(self, session: Session, charge: Charge, drop_single_marker: bool = False) -> None:
        self.commits.append((session.billed_minutes, charge, drop_single_marker))
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer

    def session(self, session_id: str) -> Optional[Session]:
        return self.fresh

    def connect(self) -> None:
        pass

    # ---- the rest of the protocol: not used by the billing tests -------------------------

    def view(self, session_id: str, user_id: str) -> View:
        raise NotImplementedError("FakeStore serves the billing run only")

    def read(
        self, session_id: Optional[str] = None, user_id: Optional[str] = None, advisor_id: Optional[str] = None
    ) -> Snapshot:
        raise NotImplementedError("FakeStore serves the billing run only")

    def first_active(self, session_ids: FrozenSet[str]) -> Optional[str]:
        raise NotImplementedError("FakeStore serves the billing run only")

    def create_session(self, session: Session, min_balance: int, account: Account, seen_at_ms: int) -> None:
        raise NotImplementedError("FakeStore serves the billing run only")

    def upgrade_legacy(self, session: Session, now_ms: int) -> "Upgraded":
        raise NotImplementedError("FakeStore serves the billing run only")

    def record_seen(self, session: Session, last_seen_ms: Optional[int], now_ms: int) -> bool:
        raise NotImplementedError("FakeStore serves the billing run only")
