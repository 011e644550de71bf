"""The books, read whole: every session, account and ledger item, for `make reconcile`.

Scans page by page with consistent reads: an operator's command, never on a request or a
billing path (those read only what they need, by key or through the active index).
"""
from typing import Iterator

from chalicelib.domain.session import Session
from chalicelib.settings import Settings
from chalicelib.store import models
from chalicelib.store.dynamo import unavailable_on_failure
from chalicelib.store.models import AccountItem, LedgerItem, SessionItem
from chalicelib.store.records import to_session

PAGE_SIZE = 500


class Books:
    def __init__(self, settings: Settings):
        self.settings = settings
        models.bind(settings)

    def sessions(self) -> Iterator[Session]:
        with unavailable_on_failure("Scan"):
            for item in SessionItem.scan(consistent_read=True, page_size=PAGE_SIZE):
                yield to_session(item)

    def accounts(self) -> Iterator[AccountItem]:
        """Account items as stored: reconcile needs their `debited` counter too."""
        with unavailable_on_failure("Scan"):
            yield from AccountItem.scan(consistent_read=True, page_size=PAGE_SIZE)

    def ledger(self) -> Iterator[LedgerItem]:
        with unavailable_on_failure("Scan"):
            yield from LedgerItem.scan(consistent_read=True, page_size=PAGE_SIZE)
