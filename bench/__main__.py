"""`make bench`: every benchmark, one summary table, bench/results.json and bench/README.md
(rendered from the results by bench/report.py).

`python -m bench --quick` runs the small versions (what `make test` exercises).
"""

import argparse
import importlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import BENCHMARKS, render, summary_table

# The service's own log lines would drown the figures (set before any benchmark imports it).
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

MODULES = tuple(BENCHMARKS)  # in the order they run
RESULTS = Path(__file__).resolve().parent / "results.json"
README = RESULTS.with_name("README.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs: proves each benchmark works")
    parser.add_argument("--only", nargs="*", choices=MODULES, help="run only these benchmarks")
    parser.add_argument("--summary", action="store_true", help="print the table of bench/results.json, run nothing")
    parser.add_argument(
        "--readme", action="store_true", help="write bench/README.md from bench/results.json, run nothing"
    )
    args = parser.parse_args()
    if args.summary:
        print(summary_table(json.loads(RESULTS.read_text())))
        return 0
    if args.readme:
        README.write_text(render(json.loads(RESULTS.read_text())))
        return 0
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
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
    print(summary_table(results))
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
        README.write_text(render(json.loads(RESULTS.read_text())))
        for path in (RESULTS, README):
            print(f"written: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
