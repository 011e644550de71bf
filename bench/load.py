"""Load on the local stage over real HTTP: many concurrent pollers and starters for a bounded
time, billing running underneath.

- pollers: each starts one session, then polls it back to back until the time is up, then
  ends it and polls it once more. In the full run some have credit for one minute only, so
  their display freezes at the cap and a billing run ends them while they are polled.
- starters: each loops new user -> start -> poll -> end -> poll.

Every request of a session is sent after the previous reply arrived, so the contract's timer rule 3
applies: a session's `elapsed_seconds` never decreases; each violation is counted. Any status
other than the expected one, or a failed connection, is an error.

Baseline, measured in the same run with the same threads: GET /health (the HTTP stack and
the app with no DynamoDB call); the ratios say what the DynamoDB work costs on top of it.
"""

import itertools
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from typing import Dict, List

from bench.common import median, percentile, ratio, table
from harness.client import HttpClient
from harness.http import call
from harness.local_stage import RunningStage

ADVISOR, RATE = "load-advisor", 199
STARTER_BALANCE = 100 * RATE


class Tally:
    """Latencies per operation, errors and per-session elapsed trails, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: Dict[str, List[float]] = defaultdict(list)
        self.errors: List[str] = []
        self.trails: Dict[str, List[float]] = defaultdict(list)
        self.end_reasons: Dict[str, int] = defaultdict(int)

    def timed(self, operation: str, expected: int, request):
        started = time.perf_counter()
        try:
            reply = request()
        except OSError as error:  # refused, reset, timed out
            with self.lock:
                self.errors.append(f"{operation}: {type(error).__name__}")
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[operation].append(elapsed)
            if reply.status != expected:
                self.errors.append(f"{operation}: {reply.status} {reply.body}")
                return None
            if isinstance(reply.body, dict) and "elapsed_seconds" in reply.body:
                self.trails[reply.body["session_id"]].append(reply.body["elapsed_seconds"])
            if operation == "end":
                self.end_reasons[reply.body["end_reason"]] += 1
        return reply

    def decreases(self) -> List[str]:
        return [
            f"{session}: {before} -> {after}"
            for session, trail in self.trails.items()
            for before, after in itertools.pairwise(trail)
            if after < before
        ]


def _poller(api: HttpClient, user: str, tally: Tally, stop: threading.Event) -> None:
    started = tally.timed("start", 201, lambda: api.start(user, ADVISOR))
    if started is None:
        return
    session_id = started.body["session_id"]
    while not stop.is_set():
        tally.timed("poll", 200, lambda: api.poll(user, session_id))
    tally.timed("end", 200, lambda: api.end(user, session_id))
    tally.timed("poll", 200, lambda: api.poll(user, session_id))


def _starter(api: HttpClient, stage: RunningStage, name: str, tally: Tally, stop: threading.Event) -> None:
    for round_ in itertools.count():
        if stop.is_set():
            return
        user = stage.add_user(f"{name}-{round_}", STARTER_BALANCE)
        started = tally.timed("start", 201, lambda user=user: api.start(user, ADVISOR))
        if started is None:
            continue
        session_id = started.body["session_id"]
        for operation, expected, request in (
            ("poll", 200, lambda user=user, session_id=session_id: api.poll(user, session_id)),
            ("end", 200, lambda user=user, session_id=session_id: api.end(user, session_id)),
            ("poll", 200, lambda user=user, session_id=session_id: api.poll(user, session_id)),
        ):
            tally.timed(operation, expected, request)


def _run_threads(targets, seconds: float, tally: Tally) -> float:
    """Run every target(*args, stop) for `seconds`; a thread that dies counts as an error."""
    stop = threading.Event()

    def guarded(target, args):
        try:
            target(*args, stop)
        except Exception as error:  # a crashed client would quietly lower the load
            with tally.lock:
                tally.errors.append(f"client thread died: {error!r}")

    threads = [threading.Thread(target=guarded, args=target, daemon=True) for target in targets]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return time.monotonic() - began


def health_baseline(stage: RunningStage, threads: int, seconds: float) -> dict:
    tally = Tally()

    def hammer(stop):
        while not stop.is_set():
            tally.timed("health", 200, lambda: call("GET", f"{stage.api_url}/health"))

    wall = _run_threads([(hammer, ()) for _ in range(threads)], seconds, tally)
    done = len(tally.latencies["health"])
    return {
        "requests": done,
        "per_s": done / wall,
        "p50_ms": median(tally.latencies["health"]) * 1000,
        "errors": len(tally.errors),
    }


def books_mismatches(stage: RunningStage, prefix: str, balances: Dict[str, int]) -> List[str]:
    """`make reconcile`'s checks over this run's users only (other sessions on a shared stage
    may be billed while the tables are read), and each balance moved by exactly its debits."""
    from chalicelib.reconcile import find_mismatches
    from chalicelib.settings import current
    from chalicelib.store.books import Books

    def ours(items):
        return [item for item in items if item.user_id.startswith(prefix)]

    books = Books(replace(current(), dynamodb_endpoint=stage.dynamodb_url))
    accounts = ours(books.accounts())
    found = [
        str(m)
        for m in find_mismatches(
            accounts,
            ours(books.sessions()),
            ours(books.ledger()),
            now_ms=time.time_ns() // 1_000_000,
            max_lag_minutes=10**6,
        )
    ]
    for account in accounts:
        starting = balances.get(account.user_id, STARTER_BALANCE)
        if starting - int(account.balance) != int(account.debited or 0):
            found.append(f"{account.user_id}: balance {account.balance} from {starting}, debited {account.debited}")
    return found


def drive(stage: RunningStage, seconds: float, pollers: int, starters: int, short_credit_every: int = 0) -> dict:
    """The load itself, on a running stage. `short_credit_every=k`: every k-th poller has credit
    for one minute only (its cap falls inside a run longer than a minute)."""
    stage.add_advisor(ADVISOR, RATE)
    api, tally, prefix = HttpClient(stage.api_url), Tally(), f"load-{uuid.uuid4().hex[:8]}-"
    targets, balances = [], {}
    for i in range(pollers):
        short = short_credit_every and i % short_credit_every == 0
        user = f"{prefix}p{i}"
        balances[user] = RATE if short else 1000 * RATE
        targets.append((_poller, (api, stage.add_user(user, balances[user]), tally)))
    targets += [(_starter, (api, stage, f"{prefix}s{i}", tally)) for i in range(starters)]
    wall = _run_threads(targets, seconds, tally)
    mismatches = books_mismatches(stage, prefix, balances)
    total = sum(len(values) for values in tally.latencies.values())
    return {
        "seconds": round(wall, 2),
        "pollers": pollers,
        "starters": starters,
        "requests": total,
        "per_s": total / wall,
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "sessions_checked": len(tally.trails),
        "elapsed_decreases": len(tally.decreases()),
        "end_reasons": dict(tally.end_reasons),
        "books_mismatches": len(mismatches),
        "mismatch_samples": mismatches[:5],
        "decrease_samples": tally.decreases()[:5],
        "operations": {
            operation: {
                "count": len(values),
                "p50_ms": median(values) * 1000,
                "p95_ms": percentile(values, 95) * 1000,
                "p99_ms": percentile(values, 99) * 1000,
            }
            for operation, values in sorted(tally.latencies.items())
        },
    }


def run(quick: bool = False) -> dict:
    # The full run lasts past one minute so that one-minute balances run out under load.
    seconds, pollers, starters = (5, 6, 2) if quick else (75, 24, 6)
    stage = RunningStage(billing_interval_s=1 if quick else 5).start()
    try:
        baseline = health_baseline(stage, pollers + starters, 1.5 if quick else 5)
        result = drive(stage, seconds, pollers, starters, short_credit_every=0 if quick else 4)
    finally:
        stage.stop()
    result["baseline_health"] = baseline
    result["throughput_vs_health"] = ratio(result["per_s"], baseline["per_s"])
    rows = [["GET /health (baseline)", baseline["requests"], baseline["per_s"], baseline["p50_ms"], "-", "-", "1.00"]]
    for operation, figures in result["operations"].items():
        rows.append(
            [
                operation,
                figures["count"],
                "-",
                figures["p50_ms"],
                figures["p95_ms"],
                figures["p99_ms"],
                f"{ratio(figures['p50_ms'], baseline['p50_ms']):.2f}",
            ]
        )
    print(
        table(
            f"load: {pollers} pollers + {starters} starters for {result['seconds']} s, billing underneath "
            f"({result['per_s']:.0f} req/s = {result['throughput_vs_health']:.2f} x the /health baseline)",
            ["operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "p50 vs /health"],
            rows,
        )
    )
    print(
        f"errors: {result['errors']}  sessions checked: {result['sessions_checked']}  "
        f"elapsed decreases: {result['elapsed_decreases']}  books mismatches: {result['books_mismatches']}  "
        f"ends by reason: {result['end_reasons']}"
    )
    for sample in result["error_samples"] + result["decrease_samples"] + result["mismatch_samples"]:
        print(f"  {sample}")
    return result


if __name__ == "__main__":
    run()
