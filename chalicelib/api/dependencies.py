"""What the routes hand to the services: the store for the current settings and the clock.

Tests replace `clock` (or travel the system clock); the store is rebuilt when settings change.
"""
from chalicelib.services import system_clock
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore

clock = system_clock
_store_cache = {}


def store() -> DynamoStore:
    settings = current()
    cached = _store_cache.get("store")
    if cached is None or cached.settings != settings:
        cached = _store_cache["store"] = DynamoStore(settings)
    return cached
