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
from typing import Callable, Optional

from chalicelib.domain.billing import settle_billing
from chalicelib.domain.errors import ChargeConflict
from chalicelib.domain.session import Session
from chalicelib.services import Clock
from chalicelib.store.dynamo import DynamoStore

ATTEMPTS = 3


@dataclass
class RunReport:
    sessions_seen: int = 0
    sessions_charged: int = 0
    minutes_charged: int = 0
    units_charged: int = 0
    ended_exhausted: int = 0
    skipped_nothing_owed: int = 0
    skipped_raced: int = 0
    left_over: int = 0
    failed: int = 0
    shards_incomplete: int = 0
    duration_ms: int = 0
    _lock: Lock = field(default_factory=Lock, repr=False, compare=False)

    def add(self, **counts) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def bill_session(store: DynamoStore, clock: Clock, session: Session, report: RunReport) -> None:
    """Charge one session what it owes now. One transaction when the balance pays; a second
    one, with the balance DynamoDB returned, when it does not (credit exhaustion)."""
    balance: Optional[int] = None
    clear_marker = False
    for _ in range(ATTEMPTS):
        charge = settle_billing(session, balance, clock())
        if charge is None:
            report.add(skipped_nothing_owed=1)
            return
        try:
            store.commit_charge(session, charge, clear_marker=clear_marker)
        except ChargeConflict as conflict:
            if conflict.account is not None:
                balance = conflict.account.balance
                clear_marker = conflict.account.active_session_id == session.session_id
                continue
            fresh = store.session(session.session_id)
            if fresh is None or not fresh.is_active:
                report.add(skipped_raced=1)
                return
            session, balance = fresh, None
            continue
        report.add(
            sessions_charged=1,
            minutes_charged=charge.minutes,
            units_charged=charge.amount,
            ended_exhausted=1 if charge.ends_session else 0,
        )
        return
    report.add(skipped_raced=1)


def _bill_shard(store, clock, shard: int, has_time: Callable[[], bool], report: RunReport, on_failure) -> None:
    try:
        for session in store.active_sessions(shard):
            report.add(sessions_seen=1)
            if not has_time():
                # Charges are cumulative: whatever this run leaves, the next one bills in full.
                report.add(left_over=1)
                continue
            try:
                bill_session(store, clock, session, report)
            except Exception as error:  # one failing session never stops the others
                report.add(failed=1)
                on_failure(session, error)
    except Exception as error:  # the shard's query failed: its sessions wait for the next run
        report.add(failed=1, shards_incomplete=1)
        on_failure(None, error)


def run_billing(
    store: DynamoStore,
    clock: Clock,
    remaining_ms: Callable[[], int],
    safety_margin_ms: int,
    workers: int,
    on_failure=lambda session, error: None,
) -> RunReport:
    """Bill every shard of the active-sessions index, shards in parallel on a bounded pool."""
    started = time.monotonic()
    report = RunReport()

    def has_time() -> bool:
        return remaining_ms() > safety_margin_ms

    shards = range(store.settings.active_shards)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="billing") as pool:
        for future in [pool.submit(_bill_shard, store, clock, s, has_time, report, on_failure) for s in shards]:
            future.result()
    report.duration_ms = int((time.monotonic() - started) * 1000)
    return report
