"""Billing scenarios: sessions of mixed ages and balances, the state billing leaves behind in a
form two runs can be compared by, and a copy of the tables to replay the same data."""

from typing import Dict, List, Tuple

from chalicelib.domain.validation import StartRequest
from chalicelib.reconcile import find_mismatches
from chalicelib.services.billing import run_billing
from chalicelib.services.start import start_session
from chalicelib.settings import current
from chalicelib.store.books import Books
from chalicelib.store.models import TABLES
from chalicelib.store.records import to_account
from harness.clock import MINUTE_MS
from harness.dynamo import add_advisor, add_user, raw_client

RATES = (99, 199, 250)


def advisor_for(rate: int) -> str:
    return f"adv-{rate}"


def seed_sessions(store, clock, count: int, prefix: str = "bill") -> Dict[str, int]:
    """`count` users, each with one session started through the service at a different age
    (0 to 25 min: some owe nothing yet) and a balance lasting 1 to 20 minutes plus change
    (some run out before now). Returns each user's starting balance; the clock is left as found."""
    for rate in RATES:
        add_advisor(advisor_for(rate), rate)
    now, balances = clock(), {}
    for i in range(count):
        rate, user = RATES[i % len(RATES)], f"{prefix}-u{i:03d}"
        balances[user] = rate * (1 + (i * 7) % 20) + (i * 13) % rate
        add_user(user, balances[user])
        clock.now_ms = now - (i * 37_511) % (25 * MINUTE_MS)
        start_session(store, clock, user, StartRequest(advisor_id=advisor_for(rate), session_id=f"{prefix}-s{i:03d}"))
    clock.now_ms = now
    return balances


def _merged(covered: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Minute ranges a session's ledger covers, merged: the same minutes charged in one item or
    in two compare equal (an end and a run may split them differently)."""
    ranges: List[Tuple[int, int]] = []
    for first, minutes in sorted(covered):
        if ranges and first <= ranges[-1][1] + 1:
            assert first > ranges[-1][1], f"minute {first} is in two ledger items"
            ranges[-1] = (ranges[-1][0], first + minutes - 1)
        elif minutes:
            ranges.append((first, first + minutes - 1))
    return ranges


def billing_state() -> dict:
    """Everything billing decides, keyed so that two histories can be compared with ==."""
    books = Books(current())
    covered: Dict[str, list] = {}
    amounts: Dict[str, int] = {}
    for item in books.ledger():
        covered.setdefault(item.session_id, []).append((int(item.first_minute), int(item.minutes)))
        amounts[item.session_id] = amounts.get(item.session_id, 0) + int(item.amount)
    return {
        "sessions": {
            s.session_id: (s.status, s.billed_minutes, s.charged, s.ended_at_ms, s.end_reason) for s in books.sessions()
        },
        "accounts": {
            a.user_id: (int(a.balance), int(a.debited or 0), to_account(a, a.user_id).markers) for a in books.accounts()
        },
        "ledger": {sid: (amounts[sid], _merged(items)) for sid, items in covered.items()},
    }


def books_problems(starting_balances: Dict[str, int], now_ms: int) -> list:
    """What does not add up: reconcile's checks (lag aside) and, per user, balance moved by
    exactly what was debited."""
    books = Books(current())
    problems = [
        str(m)
        for m in find_mismatches(books.accounts(), books.sessions(), books.ledger(), now_ms, max_lag_minutes=10**6)
    ]
    for account in books.accounts():
        start = starting_balances.get(account.user_id)
        if start is not None and start - int(account.balance) != int(account.debited or 0):
            problems.append(f"{account.user_id}: balance {account.balance} from {start}, debited {account.debited}")
    return problems


def copy_tables() -> Dict[str, list]:
    """Every item of the four tables, raw."""
    client, settings = raw_client(), current()
    copy = {}
    for _model, field in TABLES.values():
        name = getattr(settings, field)
        copy[name] = [
            item
            for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True)
            for item in page["Items"]
        ]
    return copy


def restore_tables(copy: Dict[str, list]) -> None:
    """Write a copy back into empty tables (batch writes: 25 items a request)."""
    client = raw_client()
    for name, items in copy.items():
        for start in range(0, len(items), 25):
            request = {name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def billed_then_ended(api, demo, clock, store, session_id: str) -> None:
    """The demo user's session through one billing run (its first minute), then ended by them."""
    api.start(demo["user"], demo["advisor"], session_id=session_id)
    clock.advance(ms=MINUTE_MS + 5)
    run_billing(store, clock, lambda: 60_000, 10_000, workers=1)
    api.end(demo["user"], session_id)
