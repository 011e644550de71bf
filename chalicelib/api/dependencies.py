"""What the routes hand to the services: the store for the current settings and the clock.

Tests replace `clock` (or travel the system clock); the store is rebuilt when settings change.
"""

from typing import TYPE_CHECKING, Optional

from chalicelib.clock import system_clock
from chalicelib.settings import current
from chalicelib.store.dynamo import DynamoStore

if TYPE_CHECKING:  # boto3's SQS client is the billing functions' business: the API never loads it
    from chalicelib.store.shard_queue import ShardQueue

clock = system_clock
# One store per process, reused by every invocation while the settings stay the same.
_store: Optional[DynamoStore] = None
_queue: Optional["ShardQueue"] = None


def store() -> DynamoStore:
    global _store
    settings = current()
    if _store is None or _store.settings != settings:
        _store = DynamoStore(settings)
    return _store


def shard_queue() -> Optional["ShardQueue"]:
    """The billing queue the settings name, reused while they name the same one; None: none."""
    from chalicelib.store.shard_queue import ShardQueue

    global _queue
    settings = current()
    if settings.billing_queue_url is None:
        return None
    if _queue is None or _queue.queue_url != settings.billing_queue_url:
        _queue = ShardQueue(settings.billing_queue_url, settings.region)
    return _queue


def forget_store() -> None:
    """The next calls build a new store and queue (tests that start a new moto between cases)."""
    global _store, _queue
    _store = _queue = None
