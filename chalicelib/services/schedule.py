"""Entries of the billing functions: the Lambda's deadline and settings in, a report out.

Deployed, the scheduled function only dispatches (one queue message per shard) and the queue's
workers bill. Without a queue (tests, scripts, a single process) the scheduled function bills
every shard itself; inside Lambda a missing queue is a broken deployment and is refused.
"""

import time
from typing import Any, Callable, Dict, Optional, Protocol, Sequence

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.services.billing import run_billing
from chalicelib.services.fanout import Delivery, Sender, bill_deliveries, dispatch_billing
from chalicelib.services.ports import Store
from chalicelib.settings import ConfigurationError

# Without a Lambda context (a script, a test), behave as a fresh 60 s invocation.
DEFAULT_BUDGET_MS = 60_000


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def remaining_time_of(context: Optional[LambdaContext]) -> Callable[[], int]:
    """The Lambda's own countdown; otherwise a real one. Never the billing clock: tests freeze
    or jump that one, and a frozen budget would never run out (a jumped one, at once)."""
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return context.get_remaining_time_in_millis
    deadline = time.monotonic() + DEFAULT_BUDGET_MS / 1000
    return lambda: int((deadline - time.monotonic()) * 1000)


def _run_options(store: Store, context: Optional[LambdaContext]) -> Dict[str, Any]:
    """What a run takes from its invocation and the settings, whichever path runs it."""
    settings = store.settings
    return {
        "remaining_ms": remaining_time_of(context),
        "safety_margin_ms": settings.billing_safety_margin_ms,
        "workers": settings.billing_workers,
        "on_failure": observability.billing_failure,
    }


def scheduled_billing(
    store: Store,
    clock: Clock,
    context: Optional[LambdaContext],
    event_id: Optional[str] = None,
    queue: Optional[Sender] = None,
) -> Dict[str, Any]:
    settings = store.settings
    if queue is not None:
        # EventBridge may deliver one event twice: its id in the log shows a repeat as such.
        return dispatch_billing(queue, clock, settings.active_shards, event_id)
    if settings.in_lambda:
        raise ConfigurationError("BILLING_QUEUE_URL is not set: the deployed billing dispatches to its queue")
    report = run_billing(store, clock, **_run_options(store, context)).as_dict()
    observability.billing_run_finished({"event_id": event_id, **report})
    return report


def queued_billing(
    store: Store, clock: Clock, context: Optional[LambdaContext], deliveries: Sequence[Delivery]
) -> Dict[str, Any]:
    """A queue worker's batch: its shards billed, the messages to deliver again returned."""
    outcome = bill_deliveries(store, clock, deliveries, **_run_options(store, context))
    if outcome.report is not None:
        observability.billing_run_finished({"shards": outcome.billed, **outcome.report.as_dict()})
    return outcome.batch_response()
