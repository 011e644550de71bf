"""When our code first handles an API call, and every DynamoDB request of it fitting the
Lambda's remaining time."""

from contextvars import ContextVar
from typing import Optional

from chalicelib.api import dependencies as deps
from chalicelib.store.failures import deadline

_handled_at_ms: ContextVar[Optional[int]] = ContextVar("handled_at_ms", default=None)


def handling_starts(event, get_response):
    """HTTP middleware, the first: the instant our code receives the request. A start's timer
    starts then (docs/contract.md, timer rule 2), before logging, identity and the body are
    dealt with: the page's timer started at load, and every microsecond spent before the
    clock is read shows up as the backend being behind it."""
    token = _handled_at_ms.set(deps.clock())
    try:
        return get_response(event)
    finally:
        _handled_at_ms.reset(token)


def handled_at_ms() -> Optional[int]:
    """The instant `handling_starts` saw this request; None outside a request it saw."""
    return _handled_at_ms.get()


def within_remaining_time(event, get_response):
    """HTTP middleware: the store refuses (503 + Retry-After) a request that could outlive
    the invocation, instead of the caller getting API Gateway's 504 with nothing said."""
    remaining = getattr(event.lambda_context, "get_remaining_time_in_millis", None)
    with deadline(remaining):
        return get_response(event)
