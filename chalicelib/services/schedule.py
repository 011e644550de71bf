"""Entry of the scheduled billing function: the Lambda's deadline and settings in, a report out."""

import time
from typing import Any, Callable, Dict, Optional, Protocol

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.services.billing import run_billing
from chalicelib.services.ports import Store

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


def scheduled_billing(
    store: Store, clock: Clock, context: Optional[LambdaContext], event_id: Optional[str] = None
) -> Dict[str, Any]:
    settings = store.settings
    report = run_billing(
        store,
        clock,
        remaining_ms=remaining_time_of(context),
        safety_margin_ms=settings.billing_safety_margin_ms,
        workers=settings.billing_workers,
        on_failure=observability.billing_failure,
    ).as_dict()
    # EventBridge may deliver one event twice: its id in the log shows a repeat as such.
    observability.billing_run_finished({"event_id": event_id, **report})
    return report
