"""`make bench`: every benchmark, one summary table, bench/results.json.

`python -m bench --quick` runs the small versions (what `make test` exercises).
"""
import argparse
import importlib
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.common import table

# The service's own log lines would drown the figures (set before any benchmark imports it).
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

MODULES = ("seed_scenario", "requests_per_op", "billing", "cold_start", "handler_overhead", "load")
RESULTS = Path(__file__).resolve().parent / "results.json"


def _get(results, *path):
    value = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


# (label, path into the results, goal text, check)
SUMMARY = [
    ("seed scenario, new flow: median snap s", ("seed_scenario", "new", "snap_s_median"), "<= 0.05", lambda v: abs(v) <= 0.05),
    ("seed scenario, new flow: max |snap| s", ("seed_scenario", "new", "snap_s_max"), "<= 0.05", lambda v: v <= 0.05),
    ("seed scenario, new flow: jumps back >= 1 s", ("seed_scenario", "new", "backward_jumps"), "0", lambda v: v == 0),
    ("seed scenario, old flow: median snap s", ("seed_scenario", "old", "snap_s_median"), "~15 (the bug)", lambda v: v > 1),
    ("seed scenario, old flow: jumps back >= 1 s", ("seed_scenario", "old", "backward_jumps"), "> 0 (the bug)", lambda v: v > 0),
    ("requests: start", ("requests_per_op", "start"), "2", lambda v: v <= 2),
    ("requests: poll", ("requests_per_op", "poll"), "1", lambda v: v == 1),
    ("requests: end", ("requests_per_op", "end"), "<= 3", lambda v: v <= 3),
    ("requests: billing, session owing a minute", ("requests_per_op", "bill_owing"), "1", lambda v: v == 1),
    ("requests: billing, session owing nothing", ("requests_per_op", "bill_not_owing"), "0", lambda v: v == 0),
    ("billing: index reads flat with 0/1k/10k ended sessions", ("billing", "reads_flat"), "yes", lambda v: v is True),
    ("billing: run throughput / bare transaction loop", ("billing", "throughput", "ratio"), ">= 0.7", lambda v: v >= 0.7),
    ("billing: peak memory 10k / 5k active sessions", ("billing", "memory_ratio_full_pages"), "~1 (flat)", lambda v: v <= 1.2),
    ("cold start: import app / its dependencies", ("cold_start", "ratio"), "<= 1.15", lambda v: v <= 1.15),
    ("cold start: deployment.zip MB", ("cold_start", "deployment_zip_bytes"), "-", None),
    ("handler overhead: app poll / bare read", ("handler_overhead", "ratio"), "<= 1.5", lambda v: v <= 1.5),
    ("load: requests per second", ("load", "per_s"), "-", None),
    ("load: throughput / GET /health's", ("load", "throughput_vs_health"), "-", None),
    ("load: errors", ("load", "errors"), "0", lambda v: v == 0),
    ("load: elapsed decreases", ("load", "elapsed_decreases"), "0", lambda v: v == 0),
    ("load: books mismatches", ("load", "books_mismatches"), "0", lambda v: v == 0),
]


def _summary_table(results: dict) -> str:
    rows = []
    for label, path, goal, check in SUMMARY:
        value = _get(results, *path)
        if value is None:
            continue
        if path[-1] == "deployment_zip_bytes":
            value = value / 1e6
        rows.append([label, value, goal, "-" if check is None else ("yes" if check(value) else "NO")])
    return table("summary", ["figure", "measured", "goal", "met"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs: proves each benchmark works")
    parser.add_argument("--only", nargs="*", choices=MODULES, help="run only these benchmarks")
    parser.add_argument("--summary", action="store_true", help="print the table of bench/results.json, run nothing")
    args = parser.parse_args()
    if args.summary:
        print(_summary_table(json.loads(RESULTS.read_text())))
        return 0
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    for name in args.only or MODULES:
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        results[name] = importlib.import_module(f"bench.{name}").run(quick=args.quick)
        results[name + "_seconds"] = round(time.monotonic() - started, 1)
    if args.only and not args.quick and RESULTS.exists():
        # A partial run updates its own figures and keeps the others, so the table is whole.
        results = {**json.loads(RESULTS.read_text()), **results}
    print()
    print(_summary_table(results))
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nwritten: {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
