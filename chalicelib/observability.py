"""The one logger and metrics namespace, and the business events worth a log line or a metric.

Log lines carry ids and figures only: never a token, a header dump or a request body.
"""

import os
from typing import Any, Callable, Dict, Optional, Tuple

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from chalice.app import Request

from chalicelib.domain.instants import iso_ms
from chalicelib.domain.session import Session

SERVICE = "session-timer"
NAMESPACE = "SessionTimer"
# Powertools' switch for logging each incoming event (read by inject_lambda_context).
LOG_EVENT_ENV = "POWERTOOLS_LOGGER_LOG_EVENT"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def lambda_context_middleware(correlation_id_path: Optional[str] = None) -> Callable[[Any, Callable[..., Any]], Any]:
    """A Chalice middleware: every log line of the invocation carries its Lambda context and
    correlation id, and none of the previous one's keys (Powertools' inject_lambda_context with
    clear_state), as ConvertToMiddleware(logger.inject_lambda_context(...)) applies it.

    Two costs of that are cut, the log lines staying the same. ConvertToMiddleware decorates
    the handler anew at every invocation (a partial, two functools.wraps, an environment read):
    here it is decorated once per value of POWERTOOLS_LOGGER_LOG_EVENT, which the decoration
    reads. And Powertools finds the correlation id with a JMESPath search that builds its
    options and formats a debug message at every call: a path of plain names (both of ours)
    is looked up here instead, as JMESPath looks up fields (`.get`, None on anything else),
    right after the context is set, where Powertools sets it. Logging each event (that
    variable set) keeps Powertools' own lookup, which precedes the event's line."""
    keys = _plain_path(correlation_id_path)
    decorated: Dict[str, Callable[..., Any]] = {}

    def respond(_event: Any, _context: Any, chalice_event: Any, get_response: Callable[..., Any]) -> Any:
        return get_response(chalice_event)

    def respond_with_id(event: Any, _context: Any, chalice_event: Any, get_response: Callable[..., Any]) -> Any:
        logger.set_correlation_id(_field(event, keys))
        return get_response(chalice_event)

    def middleware(event: Any, get_response: Callable[..., Any]) -> Any:
        log_event = os.getenv(LOG_EVENT_ENV, "false")
        handler = decorated.get(log_event)
        if handler is None:
            if keys is not None and log_event == "false":
                handler = logger.inject_lambda_context(respond_with_id, clear_state=True)
            else:
                handler = logger.inject_lambda_context(
                    respond, correlation_id_path=correlation_id_path, clear_state=True
                )
            decorated[log_event] = handler
        if isinstance(event, Request):  # what ConvertToMiddleware hands the decorator
            original, context = event.to_original_event(), event.lambda_context
        else:
            original, context = event.to_dict(), event.context
        return handler(original, context, event, get_response)

    return middleware


def _plain_path(path: Optional[str]) -> Optional[Tuple[str, ...]]:
    """The names of a JMESPath of plain names ("requestContext.requestId"), else None."""
    if not path:
        return None
    names = tuple(path.split("."))
    return names if all(name.isidentifier() and name.isascii() for name in names) else None


def _field(data: Any, names: Optional[Tuple[str, ...]]) -> Any:
    """What JMESPath finds at a path of plain names: each a `.get`, None once one cannot be."""
    for name in names or ():
        try:
            data = data.get(name)
        except AttributeError:
            return None
    return data


def timer_started(session: Session, lag_ms: Optional[int], lag_source: str) -> None:
    """The timer line (docs/contract.md): how the start was decided, and how late it is against the request
    (API Gateway's requestTimeEpoch) or, for records of the previous release, against the
    record's creation."""
    logger.info(
        "timer started",
        extra={
            "event": "timer_started",
            "session_id": session.session_id,
            "user_id": session.user_id,
            "advisor_id": session.advisor_id,
            "started_at": iso_ms(session.started_at_ms),
            "timer_init": session.timer_init,
            "start_lag_ms": lag_ms,
            "lag_source": lag_source,
        },
    )
    if lag_ms is not None:
        with single_metric(
            name="TimerStartLag", unit=MetricUnit.Milliseconds, value=lag_ms, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="initialized", value=session.timer_init)


def charge_committed(session: Session, minutes: int, amount: int, end_reason: Optional[str]) -> None:
    logger.info(
        "charge committed",
        extra={
            "event": "charge_committed",
            "session_id": session.session_id,
            "user_id": session.user_id,
            "minutes": minutes,
            "amount": amount,
            "end_reason": end_reason,
        },
    )


def billing_failure(session: Optional[Session], error: Exception) -> None:
    logger.exception(
        "billing failed",
        extra={
            "event": "billing_failed",
            "session_id": session.session_id if session else None,
            "error_type": type(error).__name__,
        },
    )


def legacy_unusable(session_id: str, problem: str, event: str) -> None:
    """A schema-1 record no upgrade can use, met by the backfill (`legacy_skipped`) or by a
    request (`legacy_record_unusable`): the problem is told only here, for a person to repair."""
    logger.warning("legacy record unusable", extra={"event": event, "session_id": session_id, "reason": problem})


def billing_run_finished(report: dict) -> None:
    """One log line and one EMF document per run: what was charged, skipped, ended, left."""
    logger.info("billing run finished", extra={"event": "billing_run", **report})
    metrics.add_metric(name="MinutesCharged", unit=MetricUnit.Count, value=report["minutes_charged"])
    metrics.add_metric(name="UnitsCharged", unit=MetricUnit.Count, value=report["units_charged"])
    metrics.add_metric(name="SessionsCharged", unit=MetricUnit.Count, value=report["sessions_charged"])
    metrics.add_metric(name="SessionsEndedExhausted", unit=MetricUnit.Count, value=report["ended_exhausted"])
    metrics.add_metric(name="SessionsEndedIdle", unit=MetricUnit.Count, value=report["ended_idle"])
    metrics.add_metric(name="SessionsLeftOver", unit=MetricUnit.Count, value=report["left_over"])
    # A run stops reading at its deadline, so left_over counts only the sessions in hand then:
    # shards cut short is what says the run did not get through the index.
    metrics.add_metric(name="ShardsCutShort", unit=MetricUnit.Count, value=report["shards_cut_short"])
    metrics.add_metric(name="BillingFailures", unit=MetricUnit.Count, value=report["failed"])
    metrics.add_metric(name="BillingRunDuration", unit=MetricUnit.Milliseconds, value=report["duration_ms"])
    metrics.flush_metrics()


def billing_dispatched(report: dict) -> None:
    """The dispatcher's line: one minute's shard messages, and any it could not send."""
    logger.info("billing dispatched", extra={"event": "billing_dispatched", **report})
    metrics.add_metric(name="ShardMessagesSent", unit=MetricUnit.Count, value=report["sent"])
    metrics.add_metric(name="ShardMessagesUnsent", unit=MetricUnit.Count, value=report["unsent"])
    metrics.flush_metrics()


def shard_message_refused(message_id: str, reason: str) -> None:
    """A message no worker can bill (not ours, or damaged): retried, then kept in the DLQ."""
    logger.error(
        "shard message refused", extra={"event": "shard_message_refused", "message_id": message_id, "reason": reason}
    )


def shard_messages_skipped(stale: int, duplicate: int) -> None:
    """Messages a worker did not bill: late ones (newer messages cover their shards) and
    repeats of a shard already in the batch. Many stale ones mean the workers fall behind."""
    if stale or duplicate:
        logger.info(
            "shard messages skipped", extra={"event": "shard_messages_skipped", "stale": stale, "duplicate": duplicate}
        )
        with single_metric(name="ShardMessagesStale", unit=MetricUnit.Count, value=stale, namespace=NAMESPACE):
            pass


def seen_not_recorded(session: Session, why: str) -> None:
    """A user's poll could not record them as seen (the poll was answered anyway)."""
    logger.info("seen not recorded", extra={"event": "seen_not_recorded", "session_id": session.session_id, "why": why})
