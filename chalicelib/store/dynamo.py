"""DynamoStore: the services' Store (services/ports.py) on DynamoDB.

Request budget per operation: start = one BatchGetItem + one TransactWriteItems; the user's
poll = one TransactGetItems (a snapshot: see docs/concurrency.md); the advisor's poll = two
(the first names the user whose balance the view needs); end = the poll's reads + one
TransactWriteItems (+ a re-read and a retry only when a billing run raced it).
"""

from typing import TYPE_CHECKING

from chalicelib.domain.session import Session
from chalicelib.store.reads import StoreReads
from chalicelib.store.writes import StoreWrites

if TYPE_CHECKING:  # schema 1: imported when a record of the previous release is met
    from chalicelib.legacy.upgrade import Upgraded


class DynamoStore(StoreReads, StoreWrites):
    """Reads (store/reads.py) and writes (store/writes.py) over one connection
    (store/connection.py); DynamoDB's failures become domain errors (store/failures.py)."""

    def upgrade_legacy(self, session: Session, now_ms: int) -> "Upgraded":
        from chalicelib.legacy.upgrade_write import write_upgrade  # schema 1

        return write_upgrade(self, session, now_ms)
