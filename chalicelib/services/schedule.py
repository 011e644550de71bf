"""Entry of the scheduled billing function: the Lambda's deadline and settings in, a report out."""
from chalicelib import observability
from chalicelib.services import Clock
from chalicelib.services.billing import run_billing
from chalicelib.store.dynamo import DynamoStore

# Without a Lambda context (a local driver), behave as a fresh 60 s invocation.
DEFAULT_BUDGET_MS = 60_000


def remaining_time_of(context, clock: Clock):
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return context.get_remaining_time_in_millis
    deadline = clock() + DEFAULT_BUDGET_MS
    return lambda: deadline - clock()


def bill_active_sessions(store: DynamoStore, clock: Clock, context) -> dict:
    settings = store.settings
    report = run_billing(
        store,
        clock,
        remaining_ms=remaining_time_of(context, clock),
        safety_margin_ms=settings.billing_safety_margin_ms,
        workers=settings.billing_workers,
        on_failure=observability.billing_failure,
    ).as_dict()
    observability.billing_run_finished(report)
    return report
