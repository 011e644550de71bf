"""The minute's billing spread over a queue: a dispatcher sends one message per shard, and
workers (as many as the queue's consumer may run at once) each bill the shards of a batch.

Nothing here decides a charge: a worker runs the same per-shard billing as the single run
(services/billing.py), whose every charge is guarded by the data. So SQS's at-least-once
delivery, a minute's messages overlapping the next one's, or a worker killed after its commit
can only repeat work the data refuses, never a charge.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.billing_message import BadShardMessage, ShardMessage, parse_shard_message
from chalicelib.domain.billing_order import billing_order
from chalicelib.domain.timer import MS_PER_MINUTE
from chalicelib.services.billing import OnFailure, RunReport, run_billing
from chalicelib.services.ports import Store


class Sender(Protocol):
    def send_all(self, bodies: Sequence[str]) -> List[str]: ...


class UndeliveredShards(Exception):
    """Some of the minute's messages could not be sent: the function fails, so its alarm fires.
    Those shards are billed by the next minute's messages (charges are cumulative)."""


def dispatch_billing(queue: Sender, clock: Clock, shards: int, event_id: Optional[str] = None) -> Dict[str, Any]:
    """One message per shard for this minute, in billing_order's order and directions."""
    minute = clock() // MS_PER_MINUTE
    bodies = [ShardMessage(read, minute).body() for read in billing_order(minute, shards)]
    unsent = queue.send_all(bodies)
    report = {
        "event_id": event_id,
        "minute": minute,
        "shards": shards,
        "sent": len(bodies) - len(unsent),
        "unsent": len(unsent),
    }
    observability.billing_dispatched(report)
    if unsent:
        raise UndeliveredShards(f"{len(unsent)} of {len(bodies)} shard messages were not sent")
    return report


@dataclass(frozen=True)
class Delivery:
    """One SQS record as the worker needs it."""

    message_id: str
    body: str


@dataclass
class BatchOutcome:
    """What a worker did with one batch; `failed` are the message ids SQS must deliver again."""

    billed: List[int] = field(default_factory=list)  # shards
    failed: List[str] = field(default_factory=list)
    stale: int = 0
    duplicate: int = 0
    report: Optional[RunReport] = None

    def batch_response(self) -> Dict[str, List[Dict[str, str]]]:
        """Lambda's partial batch response (ReportBatchItemFailures): only these come back."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed]}


def bill_deliveries(
    store: Store,
    clock: Clock,
    deliveries: Sequence[Delivery],
    remaining_ms: Callable[[], int],
    safety_margin_ms: int,
    workers: int,
    on_failure: OnFailure = lambda session, error: None,
) -> BatchOutcome:
    """Bill the shards a batch names, in parallel, until the deadline. A message that is not
    ours fails (SQS retries it, then moves it to the DLQ); a stale one, or a second message for
    a shard already in the batch, is done without work; a shard whose query failed fails its
    messages. A shard cut short by the deadline is not a failure: the next minute's message
    reads it from the other end."""
    outcome = BatchOutcome()
    now = clock()
    messages_of_shard: Dict[int, List[str]] = {}
    reads = []
    for delivery in deliveries:
        try:
            message = parse_shard_message(delivery.body)
        except BadShardMessage as refused:
            observability.shard_message_refused(delivery.message_id, str(refused))
            outcome.failed.append(delivery.message_id)
            continue
        if message.is_stale(now):
            outcome.stale += 1
            continue
        shard = message.read.shard
        if shard in messages_of_shard:
            outcome.duplicate += 1
        else:
            reads.append(message.read)
        messages_of_shard.setdefault(shard, []).append(delivery.message_id)
    observability.shard_messages_skipped(outcome.stale, outcome.duplicate)
    if reads:
        # One thread per shard of the batch, at least: they would otherwise wait for each other.
        report = run_billing(
            store, clock, remaining_ms, safety_margin_ms, max(workers, len(reads)), on_failure, reads=reads
        )
        outcome.report = report
        outcome.billed = [read.shard for read in reads]
        for shard in sorted(report.incomplete_shards):
            outcome.failed += messages_of_shard[shard]
    return outcome
