"""`make reconcile`: do balances, the ledger and the sessions agree? Exits 1 and names each
mismatch; 0 when everything agrees.

What it checks (the billing rules of docs/contract.md), across the tables:
- every account's movements equal its ledger: `debited` == the sum of that user's ledger amounts,
  and the balance is not negative;
- every session's `charged` equals its ledger amounts plus what a schema-1 record brought, a
  session created here has a ledger covering exactly its `billed_minutes`, and no minute of a
  session appears in two ledger items;
- every ledger item belongs to a session of the same user and its amount is minutes x rate;
- no active session owes more than one run's worth (billing is not falling behind);
- an account's active-session markers name active sessions of that user (else the user could
  never start again), and every active schema-2 session among them (else the user could start
  a second one beside it);
- every schema-1 record can be upgraded: one that cannot (no start, no rate, an unknown
  status, a start that cannot be right...) is what the backfill skips for a person to repair,
  and is named here as `legacy_record_unusable` with the reason. Its other checks wait for
  that repair; every other record is still checked.

Exit status: 1 for any finding, an unusable record included (each one needs a person); 2 only
when the tables themselves could not be read (a DynamoDB error, or no region configured).

It reads whole tables: an operator's command, never run on a request path. Tables read one
after another are not one snapshot, so a charge committed while it reads can look like a
mismatch: what it finds is read a second time and only what is found twice is reported.
"""

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

from chalicelib.clock import Clock, system_clock
from chalicelib.domain.errors import LegacyRecordUnusable
from chalicelib.domain.session import AT_CREATION, Session
from chalicelib.domain.timer import minutes_owed, raw_elapsed_ms
from chalicelib.legacy.rules import start_problem
from chalicelib.settings import ConfigurationError, current, default_for_local_endpoint
from chalicelib.store.books import Books
from chalicelib.store.records import to_account

# One run's worth of minutes at the default schedule, plus the minute a run itself may take.
DEFAULT_INTERVAL_S = 60


@dataclass(frozen=True)
class Mismatch:
    kind: str
    key: str
    detail: str

    def __str__(self) -> str:
        return f"MISMATCH {self.kind} {self.key}: {self.detail}"


@dataclass
class _SessionLedger:
    user_ids: set = field(default_factory=set)
    amount: int = 0
    minutes: int = 0
    covered: List[Tuple[int, int]] = field(default_factory=list)  # (first minute, minutes) per item


def default_max_lag_minutes(env=os.environ) -> int:
    interval_s = float(env.get("BILLING_INTERVAL_SECONDS", DEFAULT_INTERVAL_S))
    return math.ceil(interval_s / 60) + 1


def _ledger_totals(ledger: Iterable) -> Tuple[Dict[str, int], Dict[str, _SessionLedger], List[Mismatch]]:
    by_user: Dict[str, int] = defaultdict(int)
    by_session: Dict[str, _SessionLedger] = {}
    found = []
    for item in ledger:
        amount, minutes = int(item.amount), int(item.minutes)
        if amount != minutes * int(item.rate_per_minute):
            found.append(
                Mismatch(
                    "ledger_amount",
                    f"{item.session_id}#{item.first_minute}",
                    f"amount {amount} != {minutes} min x {item.rate_per_minute}",
                )
            )
        by_user[item.user_id] += amount
        entry = by_session.setdefault(item.session_id, _SessionLedger())
        entry.user_ids.add(item.user_id)
        entry.amount += amount
        entry.minutes += minutes
        entry.covered.append((int(item.first_minute), minutes))
    return by_user, by_session, found


def _overlaps(covered: List[Tuple[int, int]]) -> Optional[str]:
    """The first minute two ledger items both charge, if any."""
    end = 0
    for first, minutes in sorted(covered):
        if minutes and first <= end:
            return f"minute {first} charged twice"
        end = max(end, first + minutes - 1)
    return None


def _check_session(session: Session, ledger: _SessionLedger, now_ms: int, max_lag: int) -> List[Mismatch]:
    found, sid = [], session.session_id
    expected = session.legacy_charged + ledger.amount
    if session.charged != expected:
        found.append(
            Mismatch(
                "session_charged",
                sid,
                f"charged {session.charged} != ledger {ledger.amount} + legacy {session.legacy_charged}",
            )
        )
    if (
        session.timer_init == AT_CREATION
        and not session.is_legacy_unupgraded
        and session.billed_minutes != ledger.minutes
    ):
        found.append(
            Mismatch(
                "session_minutes", sid, f"billed_minutes {session.billed_minutes} != ledger minutes {ledger.minutes}"
            )
        )
    overlap = _overlaps(ledger.covered)
    if overlap:
        found.append(Mismatch("ledger_overlap", sid, overlap))
    if ledger.user_ids - {session.user_id}:
        found.append(Mismatch("ledger_user", sid, f"ledger names {sorted(ledger.user_ids)}, session {session.user_id}"))
    if session.is_active:
        behind = minutes_owed(raw_elapsed_ms(session, now_ms)) - session.billed_minutes
        if behind > max_lag:
            found.append(Mismatch("billing_behind", sid, f"owes {behind} unbilled minutes (at most {max_lag})"))
    return found


def find_mismatches(
    accounts: Iterable,
    sessions: Iterable[Union[Session, LegacyRecordUnusable]],
    ledger: Iterable,
    now_ms: int,
    max_lag_minutes: int,
) -> List[Mismatch]:
    """Every disagreement between the three tables (items read in that order: ledger first).
    `sessions` holds a LegacyRecordUnusable for each record that could not be read."""
    ledger_by_user, ledger_by_session, found = _ledger_totals(ledger)
    active_owner: Dict[str, str] = {}
    counted_owner: Dict[str, str] = {}
    seen = set()
    empty = _SessionLedger()
    for session in sessions:
        seen.add(session.session_id)  # even when unusable: its ledger items are not orphans
        # Why no upgrade will touch this record, as the backfill decides it.
        if isinstance(session, LegacyRecordUnusable):
            found.append(Mismatch("legacy_record_unusable", session.session_id, session.problem))
            continue
        problem = start_problem(session, now_ms) if session.is_legacy_unupgraded else None
        if problem:
            found.append(Mismatch("legacy_record_unusable", session.session_id, problem))
            continue
        if session.is_active:
            active_owner[session.session_id] = session.user_id
            if not session.is_legacy_unupgraded:  # counts from its upgrade on
                counted_owner[session.session_id] = session.user_id
        found += _check_session(session, ledger_by_session.get(session.session_id, empty), now_ms, max_lag_minutes)
    for orphan in sorted(set(ledger_by_session) - seen):
        found.append(Mismatch("ledger_orphan", orphan, "ledger items of a session that does not exist"))
    for account in accounts:
        user, debited = account.user_id, int(account.debited or 0)
        ledger_sum = ledger_by_user.pop(user, 0)
        if debited != ledger_sum:
            found.append(Mismatch("account_debited", user, f"debited {debited} != ledger {ledger_sum}"))
        if int(account.balance or 0) < 0:
            found.append(Mismatch("account_negative", user, f"balance {account.balance}"))
        markers = to_account(account, user).markers
        for marker in sorted(markers):
            if active_owner.get(marker) != user:
                found.append(Mismatch("stale_marker", user, f"marker {marker} is not an active session of this user"))
        for uncounted in sorted(sid for sid, owner in counted_owner.items() if owner == user and sid not in markers):
            found.append(
                Mismatch("uncounted_session", user, f"active session {uncounted} is not among the account's markers")
            )
    for user, ledger_sum in sorted(ledger_by_user.items()):
        if ledger_sum:
            found.append(Mismatch("account_missing", user, f"no account item, ledger charged {ledger_sum}"))
    return found


def _read_and_check(books: Books, clock: Clock, max_lag_minutes: int) -> List[Mismatch]:
    return find_mismatches(books.accounts(), books.sessions(), books.ledger(), clock(), max_lag_minutes)


def reconcile(
    books: Books, clock: Clock, max_lag_minutes: int, settle_s: float = 1.0, sleep: Callable[[float], None] = time.sleep
) -> List[Mismatch]:
    """Mismatches found on two reads `settle_s` apart (a charge in flight shows on one only)."""
    first = _read_and_check(books, clock, max_lag_minutes)
    if not first:
        return []
    sleep(settle_s)
    again = {(m.kind, m.key) for m in _read_and_check(books, clock, max_lag_minutes)}
    return [m for m in first if (m.kind, m.key) in again]


def main(argv=None, clock: Clock = system_clock) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.reconcile", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-lag-minutes",
        type=int,
        default=default_max_lag_minutes(),
        help="unbilled minutes an active session may owe (default: one run's worth + 1)",
    )
    parser.add_argument("--settle-seconds", type=float, default=1.0, help="pause before re-reading what looked wrong")
    args = parser.parse_args(argv)
    if os.environ.get("DYNAMODB_ENDPOINT"):
        default_for_local_endpoint()
    settings = current()
    try:
        books = Books(settings)
    except ConfigurationError as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 2
    where = settings.dynamodb_endpoint or f"DynamoDB {settings.region}"
    try:
        mismatches = reconcile(books, clock, args.max_lag_minutes, args.settle_seconds)
    except Exception as error:  # an operator needs the cause, not a traceback
        cause = error.__cause__ or error  # the store wraps DynamoDB's own error
        print(f"reconcile: could not read the tables at {where}: {cause}", file=sys.stderr)
        return 2
    for mismatch in mismatches:
        print(mismatch)
    verdict = f"{len(mismatches)} mismatch(es)" if mismatches else "balances, ledger and sessions agree"
    tables = f"{settings.accounts_table}/{settings.sessions_table}/{settings.ledger_table}"
    print(f"reconcile ({where}, tables {tables}): {verdict}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
