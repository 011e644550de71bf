"""What `make bench` reports: the summary table (printed) and bench/README.md (written), both
from the figures in bench/results.json. `render(results)` is the README's whole text."""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from bench.common import cell, table

# The benchmarks in the order `make bench` runs them (bench/__main__.py), each with what it
# measures and what it is measured against.
BENCHMARKS: Dict[str, Tuple[str, str, str]] = {
    # name: (title, what it measures, its baseline)
    "seed_scenario": (
        "The seed's scenario, old flow vs new (bench/seed_scenario.py)",
        "Pages open at once on the local stage over real HTTP, each with its own timer from page load, "
        "polling at 15 s and 30 s: how far the backend's `elapsed_seconds` is from the page's own count "
        "(the snap), and how often snapping would move the display back a second or more.",
        "The previous release's flow, emulated in the same run with schema-1 records whose timer starts "
        "at the first poll: it shows the bug (a whole poll interval behind) that the new flow must not.",
    ),
    "stage_vs_bare": (
        "Our stage vs a bare stage, same moto server (bench/stage_vs_bare.py)",
        "Our local stage over real HTTP, one stage at a time, alternating: the seed scenario (50 pages opened "
        "20 ms apart, polling at 15 s and 30 s: |snap| median and p95), poll throughput with 20 clients polling "
        "back to back (median of 3 rounds of 10 s) and the latency of 200 sequential starts (10 rounds), with the "
        "CPU the stage's process and moto's spend per request. Each phase's items are deleted after it: moto "
        "copies the tables a transaction touches, so its starts slow down as the tables fill.",
        "A bare stage in its own process (bench/bare_stage.py: `http.server` and one boto3 client, no framework) "
        "sending the same DynamoDB requests to the same moto server, measured in the same run: the figures are "
        "ratios ours / bare.",
    ),
    "requests_per_op": (
        "DynamoDB requests per operation (bench/requests_per_op.py)",
        "Requests counted on the wire (botocore) for a start, a poll (with and without its heartbeat, and "
        "averaged over ten minutes of a page polling every 15 s at the default idle limit) and an end through "
        "the app in process, and for one billing run: per session owing a minute, per session owing nothing, "
        "and the shard queries.",
        "the contract's cost targets: start 2, poll 1 (2 with a heartbeat, 1.5 on average), end <= 3, billing 1 "
        "per session owing a minute and 0 per session owing nothing.",
    ),
    "billing": (
        "The billing run (bench/billing.py)",
        "Against moto's HTTP server in a child process: the requests and items one run reads as ended "
        "sessions grow (0, 1 000, 10 000), its throughput, its scaling over shard workers with 5 ms "
        "added per call, and its peak memory over 500 to 10 000 active sessions.",
        "A bare loop replaying the very transactions the run sent, on the same data in the same "
        "process (throughput), and the smallest table (reads and memory).",
    ),
    "fanout": (
        "Billing fanned out over the queue (bench/fanout.py)",
        "`bill_deliveries` in worker processes against moto's HTTP server (serialised, in a process of its own): "
        "one worker's sessions/s for a batch of 1 and of 4 shards with 5, 10 and 15 ms added per DynamoDB call, "
        "its CPU and moto's per session; 1, 2 and 4 workers in parallel, each with a moto server of its own and "
        "all on one shared server; and, computed from those, the shards, workers and dollars a billing minute of "
        "100 000 and 1 000 000 sessions needs at prod's settings.",
        "One worker (the parallel runs), and the same figures with each call's wait for moto taken out (the "
        "sizing): moto spends milliseconds of its own on every call, which DynamoDB does not.",
    ),
    "cold_start": (
        "Cold start (bench/cold_start.py)",
        "The import time of app.py in fresh interpreters (median), and the size of "
        "build/deployment.zip with what dominates it.",
        "Importing the third-party modules the app imports, alone: the ratio is what our code adds.",
    ),
    "handler_overhead": (
        "Handler overhead (bench/handler_overhead.py)",
        "A poll through the Chalice app in process (routing, identity, validation, the view, logging). Before "
        "issue 17's cuts (settings built once, items decoded once, the logging middleware decorated once) it "
        "read 1.19 (median of 16 runs, 1.17-1.25; 0.72 ms over the bare read), after them 1.13 (11 runs, "
        "1.11-1.15; 0.47 ms), measured side by side on this machine.",
        "The bare DynamoDB read the poll makes, on the same in-process moto backend, interleaved.",
    ),
    "profile_requests": (
        "Where a request's time goes (bench/profile_requests.py)",
        "Starts and polls profiled with pyinstrument, in process (Chalice's test client) and over HTTP (the local "
        "stage's API server, in its request threads), each sample charged to the layer of its innermost frame that "
        "has one: the DynamoDB call (botocore, and moto standing in for DynamoDB), PynamoDB, Chalice, logging, our "
        "middleware, our code, JSON, settings, the local server. The ms columns spread the unprofiled median by "
        "those fractions (the profiler slows moto's deep stacks most): an estimate.",
        "The request's own time: the fractions of each column add up to 1.",
    ),
    "load": (
        "Load (bench/load.py)",
        "Concurrent pollers and starters on the local stage over real HTTP with billing running "
        "underneath: throughput, latency per operation, errors, any `elapsed_seconds` that decreased, "
        "and whether the books add up afterwards.",
        "GET /health with the same threads in the same run: the HTTP stack and the app with no DynamoDB call.",
    ),
}

Check = Optional[Callable[[Any], bool]]

# (label, path into the results, goal text, check)
SUMMARY: List[Tuple[str, Tuple[str, ...], str, Check]] = [
    (
        "seed scenario, new flow: median snap s",
        ("seed_scenario", "new", "snap_s_median"),
        "<= 0.05",
        lambda v: abs(v) <= 0.05,
    ),
    ("seed scenario, new flow: max |snap| s", ("seed_scenario", "new", "snap_s_max"), "<= 0.05", lambda v: v <= 0.05),
    ("seed scenario, new flow: jumps back >= 1 s", ("seed_scenario", "new", "backward_jumps"), "0", lambda v: v == 0),
    (
        "seed scenario, old flow: median snap s",
        ("seed_scenario", "old", "snap_s_median"),
        "~15 (the bug)",
        lambda v: v > 1,
    ),
    (
        "seed scenario, old flow: jumps back >= 1 s",
        ("seed_scenario", "old", "backward_jumps"),
        "> 0 (the bug)",
        lambda v: v > 0,
    ),
    (
        "stage vs bare: seed |snap| median, ours / bare",
        ("stage_vs_bare", "ratios", "snap_median"),
        "<= 1.5",
        lambda v: v <= 1.5,
    ),
    (
        "stage vs bare: seed |snap| p95, ours / bare",
        ("stage_vs_bare", "ratios", "snap_p95"),
        "<= 1.5",
        lambda v: v <= 1.5,
    ),
    (
        "stage vs bare: poll throughput (20 clients), ours / bare",
        ("stage_vs_bare", "ratios", "poll_throughput"),
        ">= 0.8",
        lambda v: v >= 0.8,
    ),
    ("stage vs bare: start p50, ours / bare", ("stage_vs_bare", "ratios", "start_p50"), "<= 1.3", lambda v: v <= 1.3),
    ("stage vs bare: seed |snap| median ms, bare", ("stage_vs_bare", "bare", "seed", "snap_abs_ms_median"), "-", None),
    ("stage vs bare: seed |snap| median ms, ours", ("stage_vs_bare", "ours", "seed", "snap_abs_ms_median"), "-", None),
    ("stage vs bare: poll req/s, bare", ("stage_vs_bare", "bare", "poll", "per_s"), "-", None),
    ("stage vs bare: poll req/s, ours", ("stage_vs_bare", "ours", "poll", "per_s"), "-", None),
    ("stage vs bare: start p50 ms, bare", ("stage_vs_bare", "bare", "start", "p50_ms"), "-", None),
    ("stage vs bare: start p50 ms, ours", ("stage_vs_bare", "ours", "start", "p50_ms"), "-", None),
    ("requests: start", ("requests_per_op", "start"), "2", lambda v: v <= 2),
    ("requests: poll", ("requests_per_op", "poll"), "1", lambda v: v == 1),
    ("requests: poll, heartbeat due", ("requests_per_op", "poll_heartbeat"), "2", lambda v: v == 2),
    ("requests: poll, a 15 s page on average", ("requests_per_op", "poll_amortised"), "1.5", lambda v: v <= 1.5),
    ("requests: end", ("requests_per_op", "end"), "<= 3", lambda v: v <= 3),
    ("requests: billing, session owing a minute", ("requests_per_op", "bill_owing"), "1", lambda v: v == 1),
    ("requests: billing, session owing nothing", ("requests_per_op", "bill_not_owing"), "0", lambda v: v == 0),
    ("billing: index reads flat with 0/1k/10k ended sessions", ("billing", "reads_flat"), "yes", lambda v: v is True),
    (
        "billing: run throughput / bare transaction loop",
        ("billing", "throughput", "ratio"),
        ">= 0.7",
        lambda v: v >= 0.7,
    ),
    (
        "billing: peak memory 10k / 5k active sessions",
        ("billing", "memory_ratio_full_pages"),
        "~1 (flat)",
        lambda v: v <= 1.2,
    ),
    (
        "fanout: sessions/s, most workers / 1 (a moto server each, 15 ms)",
        ("fanout", "own_servers_ratio"),
        "> 1 (grows)",
        lambda v: v > 1,
    ),
    ("fanout: sessions/s, most workers / 1 (one shared moto server)", ("fanout", "shared_server_ratio"), "-", None),
    (
        "fanout: shards for 1 000 000 sessions at 10 ms (moto's wait out)",
        ("fanout", "shards_for_million_without_moto"),
        "<= 512 (prod)",
        lambda v: v <= 512,
    ),
    (
        "fanout: s per shard, 1 000 000 sessions on 512 shards (moto's wait out)",
        ("fanout", "million_shard_seconds_without_moto"),
        "<= 45",
        lambda v: v <= 45,
    ),
    (
        "fanout: vCPU a 4-shard worker needs at 10 ms (moto's wait out)",
        ("fanout", "worker_vcpu_without_moto"),
        "< 1",
        lambda v: v < 1,
    ),
    ("fanout: $ per hour, billing 1 000 000 sessions", ("fanout", "usd_per_hour_million"), "-", None),
    ("cold start: import app / its dependencies", ("cold_start", "ratio"), "<= 1.15", lambda v: v <= 1.15),
    (
        "cold start: the same, within each interpreter (median)",
        ("cold_start", "ratio_paired"),
        "<= 1.15",
        lambda v: v <= 1.15,
    ),
    ("cold start: ms our modules add, within each interpreter", ("cold_start", "ours_import_ms"), "-", None),
    ("cold start: deployment.zip MB", ("cold_start", "deployment_zip_bytes"), "-", None),
    ("handler overhead: app poll / bare read", ("handler_overhead", "ratio"), "<= 1.15", lambda v: v <= 1.15),
    (
        "profile: poll's share in the DynamoDB call (in process)",
        ("profile_requests", "in_process", "poll", "dynamodb_fraction"),
        "-",
        None,
    ),
    (
        "profile: poll's share in our code, middleware, settings (in process)",
        ("profile_requests", "in_process", "poll", "ours_fraction"),
        "-",
        None,
    ),
    (
        "profile: start's share in the DynamoDB call (in process)",
        ("profile_requests", "in_process", "start", "dynamodb_fraction"),
        "-",
        None,
    ),
    (
        "profile: start's share in our code, middleware, settings (in process)",
        ("profile_requests", "in_process", "start", "ours_fraction"),
        "-",
        None,
    ),
    ("load: requests per second", ("load", "per_s"), "-", None),
    ("load: throughput / GET /health's", ("load", "throughput_vs_health"), "-", None),
    ("load: errors", ("load", "errors"), "0", lambda v: v == 0),
    ("load: elapsed decreases", ("load", "elapsed_decreases"), "0", lambda v: v == 0),
    ("load: books mismatches", ("load", "books_mismatches"), "0", lambda v: v == 0),
]


def _get(results: dict, path: Sequence[str]) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def summary_rows(results: dict) -> List[List[Any]]:
    """[figure, measured, goal, met] for every figure the results hold."""
    rows = []
    for label, path, goal, check in SUMMARY:
        value = _get(results, path)
        if value is None:
            continue
        if path[-1] == "deployment_zip_bytes":
            value = value / 1e6
        rows.append([label, value, goal, "-" if check is None else ("yes" if check(value) else "NO")])
    return rows


def summary_table(results: dict) -> str:
    """The plain-text table `make bench` prints."""
    return table("summary", ["figure", "measured", "goal", "met"], summary_rows(results))


def _markdown_table(header: Sequence[str], rows: List[List[Any]]) -> List[str]:
    def line(cells):
        return "| " + " | ".join(cell(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *(line(row) for row in rows)]


def render(results: dict) -> str:
    """bench/README.md for these results."""
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/report.py) from the figures in `bench/results.json`: do not "
        "edit it by hand, `make bench` writes both. They are measurements, not tests: `make test` runs each benchmark "
        "in its quick mode only, to prove it still works.",
        "",
        f"- measured: {results.get('when', 'unknown')}" + (" (quick mode)" if results.get("quick") else ""),
        f"- machine: {results.get('machine', 'unknown')}",
        "",
        "## Summary",
        "",
        *_markdown_table(["figure", "measured", "goal", "met"], summary_rows(results)),
        "",
        '"met" is `-` for a figure with no goal: it is reported for comparison between runs.',
    ]
    for name, (title, measures, baseline) in BENCHMARKS.items():
        if name not in results:
            continue
        seconds = results.get(f"{name}_seconds")
        out += [
            "",
            f"## {title}",
            "",
            f"Measures: {measures}",
            "",
            f"Baseline: {baseline}",
        ]
        if seconds is not None:
            out += ["", f"Run time: {seconds} s."]
        out += _tables(results[name])
    return "\n".join(out) + "\n"


def _tables(result: Any) -> List[str]:
    """A benchmark's own tables, when its results carry them (bench/fanout.py's `tables`)."""
    out: List[str] = []
    for t in result.get("tables", []) if isinstance(result, dict) else []:
        out += ["", t["title"] + ":", "", *_markdown_table(t["header"], t["rows"])]
    return out
