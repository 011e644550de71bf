"""The scheduled billing run: every active session charged what it owes, exactly once.

Exactly-once comes from the data: each charge is one transaction guarded by the session's
`billed_minutes` as this run read it and by a deterministic ledger key, so overlapping or
repeated runs and concurrent ends can only ever commit each minute once. A run that loses a
race re-reads and either charges what is still owed or skips.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from threading import Lock
from typing import Callable, Dict, Optional, Sequence, Set

from chalicelib import observability
from chalicelib.clock import Clock
from chalicelib.domain.billing import Charge, settle_billing
from chalicelib.domain.billing_order import ShardRead, billing_order
from chalicelib.domain.errors import ChargeConflict
from chalicelib.domain.presence import Presence
from chalicelib.domain.session import Session
from chalicelib.domain.timer import MS_PER_MINUTE
from chalicelib.services.ports import Store

ATTEMPTS = 3

# Told about each session (or shard query, session None) that failed; the run goes on.
OnFailure = Callable[[Optional[Session], Exception], None]


@dataclass
class RunReport:
    """What one run did. Each session read from the index has exactly one outcome: charged
    (new minutes committed, still active), ended by exhaustion (its last paid minutes, if any,
    committed with the end), ended idle (its minutes up to the idle instant, if any, committed
    with the end), skipped (nothing owed, or another writer got there first), left
    over (read when the deadline had come, or every attempt lost a race: the next run bills it
    in full), or failed. A shard whose query failed adds one failure and `shards_incomplete`;
    one whose reading stopped at the deadline (before its query, or mid-way) adds one to
    `shards_cut_short`: sessions it did not read are in no count, and the next run reads them
    first. Minutes and units include those of the ends. Threads add to it under its
    lock."""

    sessions_seen: int = 0
    sessions_charged: int = 0
    minutes_charged: int = 0
    units_charged: int = 0
    ended_exhausted: int = 0
    ended_idle: int = 0
    skipped_nothing_owed: int = 0
    skipped_raced: int = 0
    left_over: int = 0
    failed: int = 0
    shards_incomplete: int = 0
    shards_cut_short: int = 0
    duration_ms: int = 0
    _lock: Lock = field(default_factory=Lock, repr=False, compare=False)
    # Which shards' queries failed: a queue worker hands their messages back to be retried.
    _incomplete: Set[int] = field(default_factory=set, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def shard_failed(self, shard: int) -> None:
        """A shard whose query failed: one failure, counted and remembered together."""
        with self._lock:
            self.failed += 1
            self.shards_incomplete += 1
            self._incomplete.add(shard)

    @property
    def incomplete_shards(self) -> Set[int]:
        return set(self._incomplete)

    def as_dict(self) -> Dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def bill_session(store: Store, clock: Clock, session: Session, report: RunReport) -> None:
    """Charge one session what it owes now. One transaction when the balance pays and the
    user is still there; a second one, decided with the account DynamoDB returned with the
    refusal, when not (the end at credits exhaustion or at the idle instant, whichever came
    first). A lost race re-reads the session and skips it if it was ended."""
    balance: Optional[int] = None
    idle_ms = store.settings.session_idle_ms
    presence = Presence(idle_ms)  # not read: the transaction's condition checks it
    drop_single_marker = False
    for _ in range(ATTEMPTS):
        charge = settle_billing(session, balance, presence, clock())
        if charge is None:
            report.add(skipped_nothing_owed=1)
            return
        try:
            store.commit_charge(session, charge, drop_single_marker=drop_single_marker)
        except ChargeConflict as conflict:
            if conflict.account is not None:
                # Only the account refused: its balance, or its user's last-seen, decides.
                balance = conflict.account.balance
                presence = Presence(idle_ms, conflict.account.last_seen_of(session.session_id))
                drop_single_marker = conflict.account.single_marker == session.session_id
                continue
            fresh = store.session(session.session_id)
            if fresh is None or not fresh.is_active:
                report.add(skipped_raced=1)
                return
            session, balance, presence, drop_single_marker = fresh, None, Presence(idle_ms), False
            continue
        _record(report, session, charge)
        return
    # Lost every attempt to other writers: nothing was written, so the next run bills it in full.
    report.add(left_over=1)


def _record(report: RunReport, session: Session, charge: Charge) -> None:
    outcome = "sessions_charged"
    if charge.ends_session:
        outcome = "ended_idle" if charge.ends_idle else "ended_exhausted"
    report.add(**{outcome: 1}, minutes_charged=charge.minutes, units_charged=charge.amount)
    if charge.ends_session:
        # Rare and what a user will ask support about: worth a line of its own.
        observability.charge_committed(session, charge.minutes, charge.amount, charge.end_reason)


def _bill_shard(
    store: Store, clock: Clock, read: ShardRead, has_time: Callable[[], bool], report: RunReport, on_failure: OnFailure
) -> None:
    # Past the deadline the index is not read any further, not even to count what is left:
    # the next run reads in the opposite order, so it reaches these sessions first, and
    # charges are cumulative, so it bills them in full.
    if not has_time():
        report.add(shards_cut_short=1)
        return
    try:
        for session in store.active_sessions(read.shard, forward=read.forward):
            report.add(sessions_seen=1)
            if not has_time():
                report.add(left_over=1, shards_cut_short=1)
                return
            try:
                bill_session(store, clock, session, report)
            except Exception as error:  # one failing session never stops the others
                report.add(failed=1)
                on_failure(session, error)
    except Exception as error:  # the shard's query failed: its sessions wait for the next run
        report.shard_failed(read.shard)
        on_failure(None, error)


def run_billing(
    store: Store,
    clock: Clock,
    remaining_ms: Callable[[], int],
    safety_margin_ms: int,
    workers: int,
    on_failure: OnFailure = lambda session, error: None,
    reads: Optional[Sequence[ShardRead]] = None,
) -> RunReport:
    """Bill shards of the active-sessions index in parallel on a bounded pool: `reads` (a queue
    worker's shards), or every shard in the order of `billing_order`, so that under overload
    each run starts where the previous one stopped."""
    started = time.monotonic()
    report = RunReport()

    def has_time() -> bool:
        return remaining_ms() > safety_margin_ms

    order = reads if reads is not None else billing_order(clock() // MS_PER_MINUTE, store.settings.active_shards)
    store.connect()  # before the threads: each would otherwise build its own client
    # The pool's queue is first in, first out: shards start in the order submitted.
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="billing") as pool:
        for future in [pool.submit(_bill_shard, store, clock, read, has_time, report, on_failure) for read in order]:
            future.result()
    report.duration_ms = int((time.monotonic() - started) * 1000)
    return report
