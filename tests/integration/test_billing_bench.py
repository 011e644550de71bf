"""bench/billing.py still runs (its quick mode) and its counted figures say what they should.
Its timings are printed by `make bench`, never asserted here."""

import math


def test_the_billing_benchmark_runs_and_a_run_reads_no_more_with_ended_sessions():
    from bench.billing import QUICK, SHARDS, run

    result = run(quick=True)

    reads = result["reads_vs_ended"]
    assert [r["ended"] for r in reads] == list(QUICK["ended"]) and reads[-1]["ended"] > 0
    for row in reads:
        assert row["queries"] == SHARDS
        assert row["items_returned"] == row["items_scanned"] == row["active"]
        assert row["transactions"] == 0 and row["sessions_seen"] == row["active"]
    assert result["reads_flat"]
    assert result["throughput"]["run_requests"] == SHARDS + QUICK["throughput"]
    assert [r["workers"] for r in result["scaling_5ms"]] == list(QUICK["workers"])
    assert [r["active"] for r in result["memory"]] == list(QUICK["memory"])
    for value in (result["throughput"]["ratio"], result["memory_ratio"], result["scaling_5ms"][-1]["speedup"]):
        assert value > 0 and math.isfinite(value)
