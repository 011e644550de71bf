"""Billing fanned out over the queue (chalicelib/services/fanout.py): what one worker bills, how
workers add up, and what that makes of 100 000 and 1 000 000 concurrent sessions.

A worker is a process running `bill_deliveries` on a batch of shard messages, as the
`bill_shards` Lambda does; each moto server is bench/billing.py's (serialised, as the local
stage runs it, in a process of its own). Every session owes a minute and can pay for it.

1. One worker, its own moto server, 5 / 10 / 15 ms added to every DynamoDB call: sessions
   billed per second for a batch of 1 shard and of app.SHARDS_PER_WORKER (4) shards, the
   worker's CPU per session (its process time) and moto's, and how long each call waited for
   moto's answer.
2. Workers in parallel (1, 2, 4), each billing a shard of its own with 15 ms per call, against
   one moto server per worker (DynamoDB's partitions are independent servers; moto's one server
   answers one request at a time) and against one shared server. Goal: throughput grows with
   workers on servers of their own; the shared server shows moto's limit, and the CPU columns
   this machine's.
3. Sizing at 10 ms per call, computed from 1: shards and workers to bill 100 000 and 1 000 000
   sessions within a worker's budget (timeout - safety margin, prod's), prod's ACTIVE_SHARDS
   against that, a 4-shard worker's CPU against the one vCPU its memory buys, and a minute's
   Lambda, SQS and DynamoDB requests and dollars at us-east-1 on-demand prices.

Figures only: medians of a few runs on a shared, noisy machine. moto spends milliseconds of CPU
on every call (it also copies whole tables in every transaction), which DynamoDB does not: the
sizing is given as measured and with each call's wait for moto taken out (the injected latency
then being the whole call, as it would be against DynamoDB).
"""

import contextlib
import itertools
import json
import math
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence
from unittest import mock

from botocore.client import BaseClient

from bench.billing import RATE, SHARDS, _environment, _moto_process, _seed, _timed_section, _Wire
from bench.common import ratio, table
from harness.clock import START_MS

FULL = dict(per_shard=30, latencies_ms=(5, 10, 15), repeat=3, workers=(1, 2, 4), parallel_per_shard=40)
QUICK = dict(per_shard=4, latencies_ms=(10,), repeat=1, workers=(1, 2), parallel_per_shard=4)
PARALLEL_LATENCY_MS = 15
# Workers in parallel bill one shard each: a 4-shard batch keeps its own moto server busy on its
# own (table 1's 4-shard rows), which would measure moto again rather than the workers.
PARALLEL_SHARDS_PER_WORKER = 1
SIZING_LATENCY_MS = 10
SIZING_SESSIONS = (100_000, 1_000_000)

# us-east-1 on-demand prices (recheck before use): Lambda arm64, SQS standard, DynamoDB writes.
LAMBDA_USD_PER_GB_S = 0.0000133334
LAMBDA_USD_PER_REQUEST = 0.20 / 1e6
SQS_USD_PER_REQUEST = 0.40 / 1e6
DYNAMODB_USD_PER_WRU = 0.625 / 1e6
# A charge (docs/scaling.md): a transaction of 3 writes at 2 WRU each, 4 session-index writes
# and 1 ledger-index write; 3 of the session-index writes go if by_user, by_advisor and by_day
# were KEYS_ONLY (a charge changes none of their keys).
WRU_PER_CHARGE = 2 * 3 + 4 + 1
WRU_PER_CHARGE_KEYS_ONLY = 2 * 3 + 1 + 1
SQS_BATCH = 10  # messages per SendMessageBatch

CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"


def _seed_shards(endpoint: str, shards: Sequence[int], per_shard: int):
    """`per_shard` sessions in each of `shards` and nowhere else, started 90 s ago with their
    first minute paid: each owes its second, and its account pays for it. Nowhere else, because
    moto copies whole tables in every transaction: sessions no worker bills would slow every
    charge down."""
    from chalicelib.store.models import AccountItem, SessionItem
    from chalicelib.store.records import new_session_item, shard_of
    from harness.factories import make_session

    store = _seed(endpoint, active=0)  # fresh tables, the advisor, a connected store
    wanted = dict.fromkeys(shards, per_shard)
    names = (f"fan-{i:07d}" for i in itertools.count())
    with SessionItem.batch_write() as sessions, AccountItem.batch_write() as accounts:
        while any(wanted.values()):
            session_id = next(names)
            shard = shard_of(session_id, SHARDS)
            if not wanted.get(shard):
                continue
            wanted[shard] -= 1
            session = make_session(
                session_id=session_id,
                user_id=f"user-{session_id}",
                advisor_id="bench-advisor",
                started_at_ms=START_MS - 90_000,
                rate_per_minute=RATE,
                billed_minutes=1,
                charged=RATE,
            )
            sessions.save(new_session_item(session, SHARDS))
            accounts.save(AccountItem(session.user_id, balance=100 * RATE, debited=0))
    return store


class _Waits:
    """What each DynamoDB call spent off this thread's CPU: waiting for moto's answer (its queue,
    its work, the loopback hop). Installed beneath _Wire, so the injected delay is not in it."""

    def __init__(self) -> None:
        self.calls = 0
        self.off_cpu_s = 0.0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timed(self):
        original = BaseClient._make_api_call

        def call(client, operation, params):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(client, operation, params)
            finally:
                off_cpu = (time.perf_counter() - wall) - (time.thread_time() - cpu)
                with self._lock:
                    self.calls += 1
                    self.off_cpu_s += off_cpu

        with mock.patch.object(BaseClient, "_make_api_call", call):
            yield self


def _bill(store, shards: Sequence[int], delay_s: float, expected: int) -> dict:
    """One batch, one message per shard, as SQS would hand it to `bill_shards`."""
    from chalicelib.domain.billing_message import ShardMessage
    from chalicelib.domain.billing_order import ShardRead
    from chalicelib.domain.timer import MS_PER_MINUTE
    from chalicelib.services.fanout import Delivery, bill_deliveries

    minute = START_MS // MS_PER_MINUTE
    deliveries = [Delivery(f"msg-{shard}", ShardMessage(ShardRead(shard, True), minute).body()) for shard in shards]
    waits = _Waits()
    with waits.timed(), _Wire(delay_s=delay_s).tapped():
        started, cpu = time.perf_counter(), time.process_time()
        outcome = bill_deliveries(
            store, lambda: START_MS, deliveries, remaining_ms=lambda: 600_000, safety_margin_ms=0, workers=len(shards)
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    report = outcome.report
    assert report is not None and not outcome.failed and report.sessions_charged == expected, report
    return {
        "sessions": report.sessions_charged,
        "seconds": seconds,
        "cpu_s": cpu,
        "calls": waits.calls,
        "off_cpu_s": waits.off_cpu_s,
    }


class _Worker(NamedTuple):
    pipe: Connection
    pid: int


class _Server(NamedTuple):
    endpoint: str
    pid: int


def _worker(conn) -> None:
    """Child process: one billing worker. Per order: seed its moto server (or only connect to a
    shared one), say it is ready, wait for the start (every worker of a round bills at once),
    bill its batch, send back what it measured. None ends it."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from chalicelib.settings import current
    from chalicelib.store.dynamo import DynamoStore

    while (order := conn.recv()) is not None:
        with _environment(order["endpoint"]):
            if order["seed"]:
                store = _seed_shards(order["endpoint"], order["seed"], order["per_shard"])
            else:
                store = DynamoStore(current())
                store.connect()
            conn.send("ready")
            conn.recv()
            expected = len(order["shards"]) * order["per_shard"]
            conn.send(_bill(store, order["shards"], order["delay_s"], expected))


@contextlib.contextmanager
def _worker_processes(count: int):
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(count)]
    processes = [context.Process(target=_worker, args=(child,), daemon=True) for _, child in pipes]
    for process in processes:
        process.start()
    try:
        yield [_Worker(parent, process.pid or 0) for (parent, _), process in zip(pipes, processes, strict=True)]
    finally:
        for parent, _ in pipes:
            with contextlib.suppress(OSError):
                parent.send(None)
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.terminate()


def _start_server(stack: contextlib.ExitStack) -> _Server:
    """bench/billing.py's moto process, and its pid: its CPU is read from outside."""
    before = {p.pid for p in multiprocessing.active_children()}
    endpoint = stack.enter_context(_moto_process())
    [pid] = {p.pid for p in multiprocessing.active_children()} - before
    return _Server(endpoint, pid or 0)


def _machine_busy_s() -> Optional[float]:
    """CPU time all the machine's cores have spent busy (Linux's /proc); None elsewhere."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def _process_cpu_s(pid: int) -> Optional[float]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _cpu_snapshot(servers: Sequence[_Server]) -> Optional[List[float]]:
    values = [_machine_busy_s(), *(_process_cpu_s(server.pid) for server in servers)]
    return None if None in values else [v for v in values if v is not None]


def _round(workers: Sequence[_Worker], orders: List[dict], servers: Sequence[_Server]) -> dict:
    """The first len(orders) workers bill at the same instant; the round lasts until the last
    is done. CPU is counted per side: the workers (their own process time), the moto servers
    in use, and the rest of the machine (whatever else runs on it)."""
    workers = workers[: len(orders)]
    for worker, order in zip(workers, orders, strict=True):
        worker.pipe.send(order)
    for worker in workers:
        assert worker.pipe.recv() == "ready"
    before, started = _cpu_snapshot(servers), time.perf_counter()
    for worker in workers:
        worker.pipe.send("go")
    results = [worker.pipe.recv() for worker in workers]
    seconds, after = time.perf_counter() - started, _cpu_snapshot(servers)
    sessions = sum(r["sessions"] for r in results)
    worker_s = sum(r["cpu_s"] for r in results)
    row = {
        "sessions": sessions,
        "seconds": seconds,
        "sessions_per_s": sessions / seconds,
        "worker_cpu_ms_per_session": worker_s * 1000 / sessions,
        "moto_cpu_ms_per_session": None,
        "cores_workers": worker_s / seconds,
        "cores_moto": None,
        "cores_rest": None,
        "workers": results,
    }
    if before is not None and after is not None:
        machine_s, moto_s = after[0] - before[0], sum(after[1:]) - sum(before[1:])
        row["moto_cpu_ms_per_session"] = moto_s * 1000 / sessions
        row["cores_moto"] = moto_s / seconds
        row["cores_rest"] = max(0.0, machine_s - worker_s - moto_s) / seconds
    return row


def _median_round(rounds: List[dict]) -> dict:
    return sorted(rounds, key=lambda r: r["sessions_per_s"])[len(rounds) // 2]


def _order(endpoint: str, shards: Sequence[int], per_shard: int, latency_ms: float, seed: Sequence[int] = ()) -> dict:
    return {
        "endpoint": endpoint,
        "shards": list(shards),
        "per_shard": per_shard,
        "delay_s": latency_ms / 1000,
        "seed": list(seed),
    }


def _one_worker(worker: _Worker, server: _Server, sizes: dict, batch: int) -> List[dict]:
    """Each batch size at each latency: the median of `repeat` runs by throughput, each on fresh data."""
    rows = []
    for latency_ms in sizes["latencies_ms"]:
        for shards in (range(1), range(batch)):
            order = _order(server.endpoint, shards, sizes["per_shard"], latency_ms, seed=shards)
            row = _median_round([_round([worker], [order], [server]) for _ in range(sizes["repeat"])])
            [billed] = row.pop("workers")
            row.update(
                latency_ms=latency_ms,
                shards=len(shards),
                per_shard_per_s=row["sessions_per_s"] / len(shards),
                calls_per_session=billed["calls"] / billed["sessions"],
                moto_wait_ms_per_call=billed["off_cpu_s"] * 1000 / billed["calls"],
                # One shard is one thread: its waits for moto follow one another, so without them
                # the shard's time is the injected latency, the worker's CPU and nothing of moto's.
                per_shard_per_s_without_moto=(
                    billed["sessions"] / (billed["seconds"] - billed["off_cpu_s"]) if len(shards) == 1 else None
                ),
            )
            rows.append(row)
    return rows


def _parallel(workers: Sequence[_Worker], servers: Sequence[_Server], sizes: dict) -> List[dict]:
    """Worker k bills shard k. One worker on one server is both 'own' and 'shared': it runs once."""
    rows = []
    per_shard, latency = sizes["parallel_per_shard"], PARALLEL_LATENCY_MS
    for moto in ("own", "shared"):
        for count in sizes["workers"]:
            if moto == "shared" and count == 1:
                continue
            shards = [range(k * PARALLEL_SHARDS_PER_WORKER, (k + 1) * PARALLEL_SHARDS_PER_WORKER) for k in range(count)]
            if moto == "own":
                orders = [_order(servers[k].endpoint, shards[k], per_shard, latency, shards[k]) for k in range(count)]
                used = servers[:count]
            else:  # the first worker seeds every shard of the round; the others only connect
                every = range(count * PARALLEL_SHARDS_PER_WORKER)
                orders = [
                    _order(servers[0].endpoint, shards[k], per_shard, latency, every if k == 0 else ())
                    for k in range(count)
                ]
                used = servers[:1]
            row = _median_round([_round(workers, orders, used) for _ in range(sizes["repeat"])])
            del row["workers"]
            rows.append({"moto": moto, "count": count, **row})
    for row in rows:
        row["vs_one_worker"] = ratio(row["sessions_per_s"], rows[0]["sessions_per_s"])
    return rows


def _prod_config() -> dict:
    """What prod deploys (.chalice/config.json): its shards, and the worker's timeout, memory and margin."""
    config = json.loads(CONFIG.read_text())
    prod = config["stages"]["prod"]
    worker = prod["lambda_functions"]["bill_shards"]
    environment = {**config["environment_variables"], **prod["environment_variables"]}
    return {
        "active_shards": int(environment["ACTIVE_SHARDS"]),
        "timeout_s": worker["lambda_timeout"],
        "memory_mb": worker["lambda_memory_size"],
        "safety_margin_s": int(environment["BILLING_SAFETY_MARGIN_MS"]) / 1000,
    }


def _power_of_two(n: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1.0, n))))


def _sizing(alone_per_s: float, cpu_ms: float, prod: dict, batch: int) -> dict:
    """What a shard's pace billed alone (sessions/s) makes of the target sizes at prod's settings."""
    budget_s = prod["timeout_s"] - prod["safety_margin_s"]
    # A batch's shards are threads of one process (the GIL): they share one core, and 1769 MB
    # buys one vCPU. Past it, CPU sets the pace of every shard of the batch.
    vcpu = batch * alone_per_s * cpu_ms / 1000
    per_s = min(alone_per_s, 1000 / (batch * cpu_ms))
    in_budget = per_s * budget_s
    needs, at_active = {}, {}
    for sessions in SIZING_SESSIONS:
        shards = _power_of_two(sessions / in_budget)
        needs[str(sessions)] = {"shards": shards, "workers": max(1, shards // batch)}
        per_shard = sessions / prod["active_shards"]
        at_active[str(sessions)] = {
            "sessions_per_shard": per_shard,
            "shard_seconds": per_shard / per_s,
            "within_budget": per_shard / per_s <= budget_s,
        }
    return {
        "alone_per_shard_per_s": alone_per_s,
        "worker_vcpu": vcpu,
        "per_shard_per_s": per_s,
        "budget_s": budget_s,
        "sessions_per_shard_in_budget": in_budget,
        "needs": needs,
        "at_active_shards": at_active,
    }


def _costs(sessions: int, per_shard_per_s: float, prod: dict, batch: int) -> dict:
    """A minute's requests and dollars at prod's shards: each worker busy as long as its shards
    take (a batch's shards run side by side), each session charged once."""
    shards = prod["active_shards"]
    workers = shards // batch
    busy_s = sessions / shards / per_shard_per_s
    gb_s = workers * busy_s * prod["memory_mb"] / 1024  # Lambda's GB is 1024 MB
    lambda_requests = workers + 1  # the workers' batches and the dispatcher
    # The dispatcher's SendMessageBatch calls, and per batch one ReceiveMessage and one
    # DeleteMessageBatch (Lambda's pollers also long-poll the empty queue: a few more).
    sqs_requests = math.ceil(shards / SQS_BATCH) + 2 * workers
    wru, wru_keys_only = sessions * WRU_PER_CHARGE, sessions * WRU_PER_CHARGE_KEYS_ONLY
    costs = {
        "sessions": sessions,
        "shards": shards,
        "workers": workers,
        "worker_busy_s": busy_s,
        "lambda_gb_s": gb_s,
        "lambda_gb_s_usd": gb_s * LAMBDA_USD_PER_GB_S,
        "lambda_requests": lambda_requests,
        "lambda_requests_usd": lambda_requests * LAMBDA_USD_PER_REQUEST,
        "sqs_requests": sqs_requests,
        "sqs_usd": sqs_requests * SQS_USD_PER_REQUEST,
        "dynamodb_wru": wru,
        "dynamodb_usd": wru * DYNAMODB_USD_PER_WRU,
        "dynamodb_wru_keys_only": wru_keys_only,
        "dynamodb_usd_keys_only": wru_keys_only * DYNAMODB_USD_PER_WRU,
    }
    others = costs["lambda_gb_s_usd"] + costs["lambda_requests_usd"] + costs["sqs_usd"]
    costs["total_usd"] = others + costs["dynamodb_usd"]
    costs["total_usd_keys_only"] = others + costs["dynamodb_usd_keys_only"]
    return costs


def _sized(one: List[dict], batch: int) -> dict:
    prod = _prod_config()
    at = [r for r in one if r["latency_ms"] == SIZING_LATENCY_MS]
    alone = next(r for r in at if r["shards"] == 1)
    cpu_ms = next(r for r in at if r["shards"] == batch)["worker_cpu_ms_per_session"]
    sizing: dict = {"latency_ms": SIZING_LATENCY_MS, "cpu_ms_per_session": cpu_ms, "prod": prod, "costs": {}}
    for basis, rate in (
        ("measured", alone["per_shard_per_s"]),
        ("without_moto", alone["per_shard_per_s_without_moto"]),
    ):
        sizing[basis] = _sizing(rate, cpu_ms, prod, batch)
        paced = sizing[basis]["per_shard_per_s"]
        sizing["costs"][basis] = [_costs(sessions, paced, prod, batch) for sessions in SIZING_SESSIONS]
    return sizing


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}".replace(",", " ")


def _usd(per_minute: float) -> List[str]:
    return [f"{per_minute:.5f}", f"{per_minute * 60:.2f}"]


def _cell(value: Optional[float]) -> object:
    return "-" if value is None else value


def _table(title: str, header: List[str], rows: List[List[object]]) -> dict:
    """A table as data: printed here, and rendered into bench/README.md by bench/report.py."""
    return {"title": title, "header": header, "rows": rows}


def _measured_tables(sizes: dict, batch: int, one: List[dict], parallel: List[dict]) -> List[dict]:
    return [
        _table(
            f"one worker: bill_deliveries over a batch of shard messages, {sizes['per_shard']} sessions per shard "
            f"each owing a minute, its own moto server (serialised), median of {sizes['repeat']}. With {batch} "
            "shards, each call also queues behind the other shards' calls at moto (the wait column)",
            [
                "ms added per call",
                "shards",
                "sessions/s",
                "per shard/s",
                "worker CPU ms/session",
                "moto CPU ms/session",
                "calls/session",
                "wait for moto ms/call",
                "per shard/s, moto's wait taken out",
            ],
            [
                [
                    r["latency_ms"],
                    r["shards"],
                    r["sessions_per_s"],
                    r["per_shard_per_s"],
                    r["worker_cpu_ms_per_session"],
                    _cell(r["moto_cpu_ms_per_session"]),
                    r["calls_per_session"],
                    r["moto_wait_ms_per_call"],
                    _cell(r["per_shard_per_s_without_moto"]),
                ]
                for r in one
            ],
        ),
        _table(
            f"workers in parallel, {PARALLEL_SHARDS_PER_WORKER} shard each (its own), {sizes['parallel_per_shard']} "
            f"sessions per shard, {PARALLEL_LATENCY_MS} ms added per call, median of {sizes['repeat']}. own: one moto "
            "server per worker (DynamoDB's partitions are independent servers); shared: one moto server for all (it "
            "answers one request at a time, and copies all its tables in each transaction). Cores busy, of this "
            f"machine's {os.cpu_count()}: the workers, the moto servers in use, everything else running on it",
            [
                "moto",
                "workers",
                "sessions",
                "sessions/s",
                "vs 1 worker",
                "worker CPU ms/session",
                "moto CPU ms/session",
                "cores: workers",
                "cores: moto",
                "cores: rest",
            ],
            [
                [
                    r["moto"],
                    r["count"],
                    r["sessions"],
                    r["sessions_per_s"],
                    r["vs_one_worker"],
                    r["worker_cpu_ms_per_session"],
                    _cell(r["moto_cpu_ms_per_session"]),
                    r["cores_workers"],
                    _cell(r["cores_moto"]),
                    _cell(r["cores_rest"]),
                ]
                for r in parallel
            ],
        ),
    ]


def _sizing_tables(sizing: dict, batch: int) -> List[dict]:
    prod, bases = sizing["prod"], (sizing["measured"], sizing["without_moto"])

    def row(label: str, value) -> List[object]:
        return [label, *(value(basis) for basis in bases)]

    budget = _fmt(bases[0]["budget_s"], 0)
    rows = [
        row("a shard billed alone, sessions/s (table 1, 1 shard)", lambda b: b["alone_per_shard_per_s"]),
        row(
            f"vCPU a {batch}-shard worker needs at that pace ({_fmt(sizing['cpu_ms_per_session'], 2)} ms/session; "
            f"{prod['memory_mb']} MB buys 1)",
            lambda b: b["worker_vcpu"],
        ),
        row(f"a shard in a {batch}-shard batch, sessions/s (at most one vCPU)", lambda b: b["per_shard_per_s"]),
        row(f"sessions per shard in {budget} s", lambda b: _fmt(b["sessions_per_shard_in_budget"], 0)),
    ]
    for sessions in SIZING_SESSIONS:
        key, n = str(sessions), _fmt(sessions, 0)
        rows += [
            row(
                f"{n} sessions: shards (a power of two) / workers",
                lambda b, key=key: f"{b['needs'][key]['shards']} / {b['needs'][key]['workers']}",
            ),
            row(
                f"{n} sessions on ACTIVE_SHARDS={prod['active_shards']}: sessions per shard, s per shard",
                lambda b, key=key: (
                    f"{_fmt(b['at_active_shards'][key]['sessions_per_shard'], 0)}, "
                    f"{_fmt(b['at_active_shards'][key]['shard_seconds'])} s"
                ),
            ),
        ]
    tables = [
        _table(
            f"sizing at {SIZING_LATENCY_MS} ms per call, from table 1; a worker's budget: {_fmt(prod['timeout_s'], 0)} "
            f"s timeout - {_fmt(prod['safety_margin_s'], 0)} s margin (prod). measured: moto's own time in every "
            "call; moto's wait taken out: the injected latency is the whole call, as against DynamoDB",
            ["figure", "measured", "moto's wait taken out"],
            rows,
        )
    ]
    rows = []
    for measured, without in zip(sizing["costs"]["measured"], sizing["costs"]["without_moto"], strict=True):
        n = _fmt(measured["sessions"], 0)
        for label, c in (("measured", measured), ("moto's wait out", without)):
            rows.append(
                [
                    n,
                    f"Lambda GB-s, {label}: {c['workers']} workers x {_fmt(c['worker_busy_s'])} s",
                    _fmt(c["lambda_gb_s"], 0),
                    *_usd(c["lambda_gb_s_usd"]),
                ]
            )
        c = measured
        rows += [
            [
                n,
                "Lambda requests: the workers' batches + the dispatcher",
                c["lambda_requests"],
                *_usd(c["lambda_requests_usd"]),
            ],
            [n, "SQS requests: send batches, a receive and a delete per batch", c["sqs_requests"], *_usd(c["sqs_usd"])],
            [n, f"DynamoDB WRU, {WRU_PER_CHARGE} per charge", _fmt(c["dynamodb_wru"], 0), *_usd(c["dynamodb_usd"])],
            [
                n,
                f"DynamoDB WRU, {WRU_PER_CHARGE_KEYS_ONLY} per charge (KEYS_ONLY by_user, by_advisor, by_day)",
                _fmt(c["dynamodb_wru_keys_only"], 0),
                *_usd(c["dynamodb_usd_keys_only"]),
            ],
            [n, f"total (Lambda as measured, {WRU_PER_CHARGE} WRU per charge)", "-", *_usd(c["total_usd"])],
        ]
    tables.append(
        _table(
            f"a billing minute at ACTIVE_SHARDS={prod['active_shards']} ({prod['active_shards'] // batch} workers), "
            "us-east-1 on-demand: Lambda arm64 $0.0000133334 per GB-s and $0.20 per million requests, SQS $0.40 "
            "per million requests, DynamoDB $0.625 per million WRU",
            ["sessions", "item", "per minute", "$ per minute", "$ per hour"],
            rows,
        )
    )
    return tables


def run(quick: bool = False) -> dict:
    from app import SHARDS_PER_WORKER

    sizes = QUICK if quick else FULL
    batch = SHARDS_PER_WORKER
    count = max(sizes["workers"])
    assert count * PARALLEL_SHARDS_PER_WORKER <= SHARDS and batch <= SHARDS
    with contextlib.ExitStack() as stack:
        # The workers import while the servers start: starting is most of a quick run.
        workers = stack.enter_context(_worker_processes(count))
        servers = [_start_server(stack) for _ in range(count)]
        if not quick:  # a worker's first batch pays for its first calls (models, connection)
            _round(workers, [_order(servers[k].endpoint, [k], 2, 0, seed=[k]) for k in range(count)], servers)
        one = _timed_section("one worker", lambda: _one_worker(workers[0], servers[0], sizes, batch))
        parallel = _timed_section("workers in parallel", lambda: _parallel(workers, servers, sizes))
    sizing = _sized(one, batch)
    tables = _measured_tables(sizes, batch, one, parallel) + _sizing_tables(sizing, batch)
    for t in tables:
        print(table(t["title"], t["header"], t["rows"]))

    million = str(SIZING_SESSIONS[-1])
    most = max((r for r in parallel if r["moto"] == "own"), key=lambda r: r["count"])
    shared = max((r for r in parallel if r["moto"] == "shared"), key=lambda r: r["count"])
    measured, without = sizing["measured"], sizing["without_moto"]
    return {
        "batch": batch,
        "per_shard": sizes["per_shard"],
        "one_worker": one,
        "parallel": parallel,
        "parallel_latency_ms": PARALLEL_LATENCY_MS,
        "parallel_per_shard": sizes["parallel_per_shard"],
        "most_workers": most["count"],
        "own_servers_ratio": most["vs_one_worker"],
        "shared_server_ratio": shared["vs_one_worker"],
        "sizing": sizing,
        "shards_for_million": measured["needs"][million]["shards"],
        "shards_for_million_without_moto": without["needs"][million]["shards"],
        "million_shard_seconds": measured["at_active_shards"][million]["shard_seconds"],
        "million_shard_seconds_without_moto": without["at_active_shards"][million]["shard_seconds"],
        "worker_vcpu_without_moto": without["worker_vcpu"],
        "usd_per_hour_million": sizing["costs"]["measured"][-1]["total_usd"] * 60,
        "tables": tables,
        "goals": {
            "own_servers_ratio": "> 1 (grows with workers)",
            "million_shard_seconds_without_moto": f"<= {_fmt(measured['budget_s'], 0)} s",
        },
    }


if __name__ == "__main__":
    run()
