"""The books, read whole: every session, account and ledger item, for `make reconcile`.

Scans page by page with consistent reads: an operator's command, never on a request or a
billing path (those read only what they need, by key or through the active index).
"""

from typing import Any, Dict, Iterator, Union

from pynamodb.pagination import ResultIterator

from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.domain.session import Session
from chalicelib.settings import Settings
from chalicelib.store import models
from chalicelib.store.failures import unavailable_on_failure
from chalicelib.store.models import AccountItem, LedgerItem, SessionItem
from chalicelib.store.records import from_raw, to_session

PAGE_SIZE = 500


class Books:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._connection = models.connect(settings, request_timeouts=False)

    def sessions(self) -> Iterator[Union[Session, LegacyRecordUnusable]]:
        """Every session. A schema-1 record that cannot be read as one comes back as the
        LegacyRecordUnusable saying why, and the scan goes on: one record a person must
        repair must not hide the rest. Items are read raw because the model refuses some
        schema-1 items (an `ended_at` in epoch seconds) that the shared translation reads."""
        pages: ResultIterator[Dict[str, Any]] = ResultIterator(
            self._connection.scan, (self.settings.sessions_table,), dict(consistent_read=True, limit=PAGE_SIZE)
        )
        with unavailable_on_failure("Scan"):
            for raw in pages:
                try:
                    yield to_session(from_raw(SessionItem, raw))
                except LegacyRecordUnusable as unusable:
                    yield unusable

    def accounts(self) -> Iterator[AccountItem]:
        """Account items as stored: reconcile needs their `debited` counter too."""
        with unavailable_on_failure("Scan"):
            yield from AccountItem.scan(consistent_read=True, page_size=PAGE_SIZE)

    def ledger(self) -> Iterator[LedgerItem]:
        with unavailable_on_failure("Scan"):
            yield from LedgerItem.scan(consistent_read=True, page_size=PAGE_SIZE)
