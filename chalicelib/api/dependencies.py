"""What the routes hand to the services: the store for the current settings and the clock.

Tests replace `clock` (or travel the system clock); the store is rebuilt when settings change.
"""

from typing import Optional

from chalicelib.clock import system_clock
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore

clock = system_clock
# One store per process, reused by every invocation while the settings stay the same.
_store: Optional[DynamoStore] = None


def store() -> DynamoStore:
    global _store
    settings = current()
    if _store is None or _store.settings != settings:
        _store = DynamoStore(settings)
    return _store


def forget_store() -> None:
    """The next call builds a new store (tests that start a new DynamoDB between cases)."""
    global _store
    _store = None
