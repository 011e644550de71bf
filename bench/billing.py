"""The billing run, measured against moto's HTTP server (serialised, as in the local stage),
which runs in a child process so that its CPU and memory are not counted as the run's.

1. Reads vs table size: requests and items one run reads with a fixed set of active sessions
   and 0 / 1 000 / 10 000 ended ones. Goal: the same figures at every size (the sparse
   index holds active sessions only).
2. Throughput: one run charging N sessions vs a bare loop replaying the very transactions that
   run sent, on the same data in the same process. Goal: ratio >= 0.7.
3. Scaling: the same run with 5 ms added to every DynamoDB call (a real network's round
   trip), over 1, 2, 4 and 8 shard workers.
4. Memory: tracemalloc's peak during a run over 500, 5 000 and 10 000 active sessions. Goal: flat.

Figures only: timings are medians of a few runs on a noisy machine, compared within one run.
"""

import contextlib
import multiprocessing
import time
import tracemalloc
import urllib.request
from typing import Callable, Dict, List

from botocore.client import BaseClient

from bench.common import median, ratio, table
from harness.clock import START_MS

RATE = 199
SHARDS = 16

FULL = dict(
    active=100,
    ended=(0, 1_000, 10_000),
    throughput=300,
    repeat=3,
    scaled=160,
    workers=(1, 2, 4, 8),
    memory=(500, 5_000, 10_000),
)
QUICK = dict(active=10, ended=(0, 200), throughput=32, repeat=1, scaled=32, workers=(1, 8), memory=(50, 500))


def _serve(conn) -> None:
    """Child process: moto's server, serialised, until the parent closes the pipe."""
    import os
    import sys

    from chalicelib.local.moto_server import LocalDynamo

    sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH", "0.005")))
    server = LocalDynamo(port=0).start()
    conn.send(server.endpoint)
    with contextlib.suppress(EOFError):
        conn.recv()
    server.stop()


@contextlib.contextmanager
def _moto_process():
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.close()
        process.join(10)
        if process.is_alive():
            process.terminate()


@contextlib.contextmanager
def _environment(endpoint: str):
    """This process talks to the child's server, with the stage's table names and shards."""
    import os

    wanted = {
        "DYNAMODB_ENDPOINT": endpoint,
        "ACTIVE_SHARDS": str(SHARDS),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name in ("SESSIONS_TABLE", "ACCOUNTS_TABLE", "ADVISORS_TABLE", "LEDGER_TABLE"):
        wanted[name] = os.environ.get(name, "")
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update({k: v for k, v in wanted.items() if v})
    for name in ("SESSIONS_TABLE", "ACCOUNTS_TABLE", "ADVISORS_TABLE", "LEDGER_TABLE"):
        if not wanted[name]:
            os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Wire:
    """Every DynamoDB call this process makes: counted by operation, Query items summed, the
    transactions kept for a replay, and an optional delay (a network's round trip)."""

    def __init__(self, delay_s: float = 0.0, keep_transactions: bool = False):
        self.delay_s, self.keep = delay_s, keep_transactions
        self.calls: Dict[str, int] = {}
        self.items_returned = self.items_scanned = 0
        self.transactions: List[dict] = []

    @contextlib.contextmanager
    def tapped(self):
        original = BaseClient._make_api_call
        wire = self

        def call(client, operation, params):
            if client.meta.service_model.service_name != "dynamodb":
                return original(client, operation, params)
            if wire.delay_s:
                time.sleep(wire.delay_s)
            reply = original(client, operation, params)
            wire.calls[operation] = wire.calls.get(operation, 0) + 1
            if operation == "Query":
                wire.items_returned += reply.get("Count", 0)
                wire.items_scanned += reply.get("ScannedCount", 0)
            if operation == "TransactWriteItems" and wire.keep:
                wire.transactions.append(params)
            return reply

        BaseClient._make_api_call = call
        try:
            yield self
        finally:
            BaseClient._make_api_call = original


def _fresh_tables(endpoint: str):
    from chalicelib.settings import current
    from harness.dynamo import fresh_tables

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    fresh_tables(endpoint)
    return current()


def _seed(endpoint: str, active: int, ended: int = 0, owing: bool = True):
    """`active` sessions started 30 s ago (owing their first minute, or billed for it already),
    each with its own account, and `ended` sessions long over: written with batch writes."""
    from chalicelib.domain.session import ACTIVE, Session
    from chalicelib.store.dynamo import DynamoStore
    from chalicelib.store.models import AccountItem, AdvisorItem, SessionItem
    from chalicelib.store.records import new_session_item

    settings = _fresh_tables(endpoint)
    AdvisorItem("bench-advisor", rate_per_minute=RATE).save()
    with SessionItem.batch_write() as sessions, AccountItem.batch_write() as accounts:
        for i in range(active):
            billed = 0 if owing else 1
            session = Session(
                f"act-{i:06d}",
                f"user-{i:06d}",
                "bench-advisor",
                ACTIVE,
                START_MS - 30_000,
                RATE,
                billed_minutes=billed,
                charged=billed * RATE,
            )
            sessions.save(new_session_item(session, SHARDS))
            if owing:
                accounts.save(AccountItem(session.user_id, balance=100 * RATE, debited=0))
        for i in range(ended):
            started = START_MS - 86_400_000 - i * 1_000
            session = Session(
                f"old-{i:06d}",
                f"old-user-{i % 500:03d}",
                "bench-advisor",
                "ended",
                started,
                RATE,
                billed_minutes=5,
                charged=5 * RATE,
                ended_at_ms=started + 290_000,
                end_reason="user",
            )
            item = new_session_item(session, SHARDS)
            item.active_shard = None
            item.ended_at_ms, item.end_reason = session.ended_at_ms, session.end_reason
            sessions.save(item)
    store = DynamoStore(settings)
    store.connect()  # a warm Lambda's store is connected already: the runs timed here too
    return store


def _run(store, workers: int):
    from chalicelib.services.billing import run_billing

    return run_billing(store, lambda: START_MS, remaining_ms=lambda: 600_000, safety_margin_ms=0, workers=workers)


def _reads_vs_ended(endpoint: str, active: int, ended_sizes) -> List[dict]:
    """The active sessions owe nothing here, so the run only reads: what each one owing a
    minute adds (one transaction) is counted by requests_per_op and the integration tests,
    and moto's transactions slow down with the table's size (it copies tables), which would
    time requests out on the largest size and blur what this measures."""
    rows = []
    for ended in ended_sizes:
        store = _seed(endpoint, active, ended, owing=False)
        with _Wire().tapped() as wire:
            started = time.perf_counter()
            report = _run(store, workers=8)
            seconds = time.perf_counter() - started
        rows.append(
            {
                "ended": ended,
                "active": active,
                "queries": wire.calls.get("Query", 0),
                "items_returned": wire.items_returned,
                "items_scanned": wire.items_scanned,
                "transactions": wire.calls.get("TransactWriteItems", 0),
                "requests": sum(wire.calls.values()),
                "sessions_seen": report.sessions_seen,
                "run_s": seconds,
            }
        )
    return rows


def _bare_replay(transactions: List[dict]) -> float:
    """The same TransactWriteItems, one after another from a plain boto3 client."""
    import boto3

    from chalicelib.settings import current

    settings = current()
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    client.list_tables()  # connect before the clock starts, as the run's client already is
    # Without the run's ClientRequestToken: the local server honours tokens for 10 minutes, as
    # DynamoDB does, and would answer the replay from its memory without applying anything.
    fresh = [{key: value for key, value in params.items() if key != "ClientRequestToken"} for params in transactions]
    started = time.perf_counter()
    for params in fresh:
        client.transact_write_items(**params)
    return time.perf_counter() - started


def _throughput(endpoint: str, sessions: int, repeat: int) -> dict:
    run_s, bare_s, requests = [], [], 0
    for _ in range(repeat):
        store = _seed(endpoint, sessions)
        with _Wire(keep_transactions=True).tapped() as wire:
            started = time.perf_counter()
            report = _run(store, workers=8)
            run_s.append(time.perf_counter() - started)
        assert report.sessions_charged == sessions, report
        requests = sum(wire.calls.values())
        _seed(endpoint, sessions)
        bare_s.append(_bare_replay(wire.transactions))
    result = {
        "sessions": sessions,
        "repeat": repeat,
        "run_requests": requests,
        "run_sessions_per_s": sessions / median(run_s),
        "bare_sessions_per_s": sessions / median(bare_s),
    }
    result["ratio"] = ratio(result["run_sessions_per_s"], result["bare_sessions_per_s"])
    return result


def _scaling(endpoint: str, sessions: int, workers_list, delay_s: float = 0.005) -> List[dict]:
    """moto's server is serialised: however many workers wait on the network at once, it
    answers one request at a time. Its limit (the bare loop of the same transactions, no
    delay) is measured alongside, so the table shows how much of it the run reaches."""
    rows, transactions = [], []
    for workers in workers_list:
        store = _seed(endpoint, sessions)
        with _Wire(delay_s=delay_s, keep_transactions=not transactions).tapped() as wire:
            started, cpu = time.perf_counter(), time.process_time()
            report = _run(store, workers)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert report.sessions_charged == sessions, report
        transactions = transactions or wire.transactions
        rows.append(
            {
                "workers": workers,
                "sessions": sessions,
                "run_s": seconds,
                "sessions_per_s": sessions / seconds,
                "client_cpu_ms_per_session": cpu * 1000 / sessions,
            }
        )
    _seed(endpoint, sessions)
    moto_limit = sessions / _bare_replay(transactions)
    for row in rows:
        row["speedup"] = ratio(row["sessions_per_s"], rows[0]["sessions_per_s"])
        row["of_moto_limit"] = ratio(row["sessions_per_s"], moto_limit)
    return rows


def _peak_memory(endpoint: str, sizes) -> List[dict]:
    """Sessions that owe nothing: the run reads them all (the part that could grow with their
    number) and writes nothing, so the figures compare reading alone. What a run holds is
    bounded by the pages in flight (workers x page size), so it grows until the shards' pages
    are full (16 shards x 100 items) and stays flat from there."""
    rows = []
    for active in sizes:
        store = _seed(endpoint, active, owing=False)
        _run(store, workers=8)  # warm: first-use imports and caches are not the run's
        tracemalloc.start()
        try:
            report = _run(store, workers=8)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report.sessions_seen == active, report
        rows.append({"active": active, "peak_kib": peak / 1024})
    for before, row in zip([rows[0], *rows], rows, strict=False):
        row["vs_smallest"] = ratio(row["peak_kib"], rows[0]["peak_kib"])
        row["vs_previous"] = ratio(row["peak_kib"], before["peak_kib"])
    return rows


def _timed_section(name: str, fn: Callable[[], object]):
    started = time.monotonic()
    value = fn()
    print(f"  ({name}: {time.monotonic() - started:.1f} s)", flush=True)
    return value


def run(quick: bool = False) -> dict:
    sizes = QUICK if quick else FULL
    with _moto_process() as endpoint, _environment(endpoint):
        reads = _timed_section("reads vs ended", lambda: _reads_vs_ended(endpoint, sizes["active"], sizes["ended"]))
        throughput = _timed_section("throughput", lambda: _throughput(endpoint, sizes["throughput"], sizes["repeat"]))
        scaling = _timed_section("scaling", lambda: _scaling(endpoint, sizes["scaled"], sizes["workers"]))
        memory = _timed_section("memory", lambda: _peak_memory(endpoint, sizes["memory"]))

    print(
        table(
            f"billing run: reads vs ended sessions ({sizes['active']} active; {SHARDS} shards; run s grows with moto's "
            "in-memory index scan, not with reads)",
            ["ended", "Query", "items returned", "items scanned", "requests", "run s (moto)"],
            [
                [r["ended"], r["queries"], r["items_returned"], r["items_scanned"], r["requests"], r["run_s"]]
                for r in reads
            ],
        )
    )
    print(
        table(
            f"billing run throughput vs a bare loop of its transactions ({throughput['sessions']} sessions, "
            f"median of {throughput['repeat']})",
            ["path", "sessions/s"],
            [
                ["billing run (8 shard workers)", throughput["run_sessions_per_s"]],
                ["bare TransactWriteItems loop", throughput["bare_sessions_per_s"]],
                ["ratio (goal >= 0.7)", throughput["ratio"]],
            ],
        )
    )
    print(
        table(
            f"billing run with 5 ms per DynamoDB call ({sizes['scaled']} sessions owing a minute; moto answers one "
            "request at a time, its limit = a bare loop with no delay)",
            ["shard workers", "run s", "sessions/s", "speedup vs 1", "of moto's limit", "run's CPU ms/session"],
            [
                [
                    r["workers"],
                    r["run_s"],
                    r["sessions_per_s"],
                    r["speedup"],
                    r["of_moto_limit"],
                    r["client_cpu_ms_per_session"],
                ]
                for r in scaling
            ],
        )
    )
    print(
        table(
            "billing run peak memory (tracemalloc, this process only; moto runs in a child; bounded by "
            "workers x page size: flat once every shard's page is full, 16 x 100 sessions)",
            ["active sessions", "peak KiB", "vs smallest", "vs previous"],
            [[r["active"], r["peak_kib"], r["vs_smallest"], r["vs_previous"]] for r in memory],
        )
    )
    flat_reads = len({(r["queries"], r["items_returned"], r["requests"]) for r in reads}) == 1
    return {
        "reads_vs_ended": reads,
        "reads_flat": flat_reads,
        "throughput": throughput,
        "scaling_5ms": scaling,
        "memory": memory,
        "memory_ratio": memory[-1]["vs_smallest"],
        "memory_ratio_full_pages": memory[-1]["vs_previous"],
        "goals": {"reads_flat": True, "throughput_ratio": ">= 0.7", "memory_ratio_full_pages": "~1 (flat)"},
    }


if __name__ == "__main__":
    run()
