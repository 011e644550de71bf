"""DynamoDB's failures in the service's terms: 503 + Retry-After for throttling, errors and
timeouts; a request refused when it could outlive the invocation; and a cancelled
transaction's reasons named by the action they belong to.
"""

import contextlib
from contextvars import ContextVar
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import CancellationReason, PynamoDBException

from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.observability import logger
from chalicelib.store import models

CANCELLED = "TransactionCanceledException"
CONDITION_FAILED = "ConditionalCheckFailed"
# The same refusal from a single write (not a transaction).
CONDITION_CHECK_FAILED = "ConditionalCheckFailedException"
# Another transaction on the same item was in flight (real DynamoDB only): trying again
# meets that transaction's outcome.
CONFLICT = "TransactionConflict"

# The longest one request can take with PynamoDB's retries (models.TableMeta), botocore's
# backoff included: a request is not started with less than this left.
WORST_REQUEST_MS = (1 + models.TableMeta.max_retry_attempts) * (
    models.TableMeta.connect_timeout_seconds + models.TableMeta.read_timeout_seconds
) * 1000 + 1000

# The invocation's remaining time (Lambda's countdown), set per request by the API layer.
# A context variable: the local stage serves requests on threads that share one store.
_remaining_ms: ContextVar[Optional[Callable[[], int]]] = ContextVar("remaining_ms", default=None)


@contextlib.contextmanager
def deadline(remaining_ms: Optional[Callable[[], int]]) -> Iterator[None]:
    """Every request made inside must be able to finish before `remaining_ms()` reaches 0,
    or the caller gets our 503 + Retry-After instead of API Gateway's 504."""
    token = _remaining_ms.set(remaining_ms)
    try:
        yield
    finally:
        _remaining_ms.reset(token)


def ensure_time_for(action: str) -> None:
    remaining = _remaining_ms.get()
    if remaining is not None and remaining() < WORST_REQUEST_MS:
        logger.warning("dynamodb %s not started: %d ms left", action, remaining())
        raise ServiceUnavailable("the request ran out of time waiting for the database; retry")


def error_code(error: Exception) -> Optional[str]:
    """The AWS error code of a PynamoDB or botocore error; None for timeouts and connection
    errors (PynamoDB's own `cause_response_code` raises on those)."""
    for candidate in (getattr(error, "cause", None), error):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            return None if code is None else str(code)
    return None


@contextlib.contextmanager
def unavailable_on_failure(action: str) -> Iterator[None]:
    """Throttling, service errors and timeouts become 503 + Retry-After; nothing was committed
    (a transaction is all or nothing, and our other writes are single conditional writes).
    A request that could outlive the invocation is not started."""
    ensure_time_for(action)
    try:
        yield
    except (PynamoDBException, ClientError, BotoCoreError, Cancelled) as error:
        logger.warning("dynamodb %s failed: %s", action, error_code(error) or type(error).__name__)
        raise ServiceUnavailable() from error


# PynamoDB sends a transaction's actions grouped by kind, whatever order they were written in;
# DynamoDB answers a cancellation with one reason per action, in the order sent.
_SENT_ORDER = ("check", "delete", "put", "update")


class Cancelled(Exception):
    """A transaction DynamoDB cancelled, with each action's reason under the name it was given."""

    def __init__(self, reasons: Dict[str, Optional[CancellationReason]]):
        super().__init__(",".join(r.code if r is not None else "None" for r in reasons.values()))
        self.reasons = reasons

    def code(self, action: str) -> Optional[str]:
        reason = self.reasons.get(action)
        return None if reason is None else reason.code

    def item(self, action: str) -> Optional[dict]:
        """The item as DynamoDB had it, returned with a failed condition (ALL_OLD)."""
        reason = self.reasons.get(action)
        return None if reason is None else reason.raw_item

    def any(self, *codes: str) -> bool:
        return any(r is not None and r.code in codes for r in self.reasons.values())


def named_reasons(error: PynamoDBException, actions: Sequence[Tuple[str, str]]) -> Optional[Cancelled]:
    """The cancellation of a write transaction whose actions were `(name, kind)` in the order
    written, or None when `error` is not a cancellation."""
    if error_code(error) != CANCELLED:
        return None
    sent: List[str] = [name for name, _ in sorted(actions, key=lambda action: _SENT_ORDER.index(action[1]))]
    reasons: List[Optional[CancellationReason]] = list(getattr(error, "cancellation_reasons", []))
    # No reasons at all (a cancellation without them) leaves every action's reason unknown.
    return Cancelled(dict(zip(sent, reasons, strict=False)))
