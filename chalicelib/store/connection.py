"""What every store request shares: the botocore client, jittered retries within the caller's
deadline, and write transactions whose actions are named."""

import contextlib
import random
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.settings import Settings
from chalicelib.store import models
from chalicelib.store.failures import ensure_time_for, named_reasons

# Our own retries (unprocessed keys, conflicts): few, short, jittered, and never past the
# caller's deadline.
ATTEMPTS = 4
BACKOFF_MS = 20
# Ask DynamoDB for the item as it was when a condition on it fails.
ALL_OLD = "ALL_OLD"


class Transaction:
    """A TransactWrite whose actions carry names: a cancellation (failures.Cancelled) reports
    each action's reason under its name, whatever order PynamoDB sends them in."""

    def __init__(self, tx: TransactWrite):
        self._tx = tx
        self.actions: List[Tuple[str, str]] = []

    def put(
        self, name: str, item: Model, condition: Optional[Condition] = None, return_values: Optional[str] = None
    ) -> None:
        self._tx.save(item, condition=condition, return_values=return_values)
        self.actions.append((name, "put"))

    def update(
        self,
        name: str,
        item: Model,
        actions: List[Any],
        condition: Optional[Condition] = None,
        return_values: Optional[str] = None,
    ) -> None:
        self._tx.update(item, actions=actions, condition=condition, return_values=return_values)
        self.actions.append((name, "update"))


class StoreConnection:
    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._sleep = sleep
        self.connection = models.connect(settings, request_timeouts=True)

    def back_off(self, attempt: int) -> None:
        """Full jitter (AWS's advice): retries of many callers spread out instead of colliding."""
        ensure_time_for("retry")
        self._sleep(random.uniform(0, BACKOFF_MS * 2**attempt) / 1000)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Commits when the block ends; a cancellation raises failures.Cancelled."""
        tx = TransactWrite(connection=self.connection)
        named = Transaction(tx)
        try:
            with tx:
                yield named
        except TransactWriteError as error:
            cancelled = named_reasons(error, named.actions)
            if cancelled is None:
                raise
            raise cancelled from error

    def connect(self) -> None:
        """Create every botocore client now, on the calling thread. PynamoDB builds one lazily
        per connection, so threads that start together with none each build their own: about
        0.1 s of CPU apiece (loading botocore's service model), seen at every cold billing run."""
        # Reading the `client` property is what builds it.
        _ = self.connection.client
        for model, _table in models.TABLES.values():
            _ = model._get_connection().connection.client
