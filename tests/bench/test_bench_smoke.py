"""Each benchmark still runs (quick mode) and its figures say what they should. Timings are
printed by `make bench`, never asserted here; counts and the seed scenario's shape are."""

import math

import pytest

pytestmark = pytest.mark.e2e


def test_seed_scenario_old_flow_jumps_and_new_flow_does_not():
    from bench.seed_scenario import run

    result = run(quick=True)
    old, new = result["old"], result["new"]
    assert old["errors"] == new["errors"] == 0
    assert new["polls"] == old["polls"] == 2 * new["pages"]
    # The old flow's timer started at the first poll: the backend is a whole first-poll
    # interval behind the page at every poll.
    assert old["backward_jumps"] == old["polls"]
    assert abs(old["snap_s_median"] - result["poll_at_s"][0]) < 0.5
    # The new flow: the creating write is the start; the seed's own criterion is 1 s.
    assert new["backward_jumps"] == 0
    assert new["snap_s_max"] < 1.0


def test_requests_per_operation_meet_the_cost_targets():
    from bench.requests_per_op import run

    result = run(quick=True)
    assert result["within_goals"], result
    assert result["billing_run_queries"] > 0
    # At the default limit a 15 s page's heartbeat is due every other poll.
    assert (result["poll"], result["poll_heartbeat"], result["poll_amortised"]) == (1, 2, 1.5)


def test_timing_benchmarks_produce_figures():
    from bench.cold_start import run as cold_start
    from bench.handler_overhead import run as handler_overhead

    cold = cold_start(quick=True)
    handler = handler_overhead(quick=True)
    for value in (cold["app_import_ms"], cold["dependencies_import_ms"], handler["ratio"]):
        assert value > 0 and math.isfinite(value)
    assert cold["app_import_ms"] > cold["dependencies_import_ms"] * 0.5


def test_fanout_bills_every_seeded_session_and_sizes_from_its_figures():
    from bench.fanout import SIZING_SESSIONS, WRU_PER_CHARGE, run
    from bench.report import SUMMARY, render, summary_rows

    result = run(quick=True)
    batch = result["batch"]
    for row in result["one_worker"]:
        assert row["sessions"] == row["shards"] * result["per_shard"]
        assert row["calls_per_session"] >= 1
    assert {row["shards"] for row in result["one_worker"]} == {1, batch}
    for row in result["parallel"]:
        assert row["sessions"] == row["count"] * result["parallel_per_shard"]
    assert [(r["moto"], r["count"]) for r in result["parallel"]] == [("own", 1), ("own", 2), ("shared", 2)]
    for basis in ("measured", "without_moto"):
        sized = result["sizing"][basis]
        assert sized["per_shard_per_s"] <= sized["alone_per_shard_per_s"]
        for need in sized["needs"].values():
            assert need["shards"] & (need["shards"] - 1) == 0 and need["workers"] == max(1, need["shards"] // batch)
        costs = result["sizing"]["costs"][basis]
        assert [c["dynamodb_wru"] for c in costs] == [n * WRU_PER_CHARGE for n in SIZING_SESSIONS]
        assert all(c["lambda_gb_s"] > 0 and math.isfinite(c["total_usd"]) for c in costs)
    # What `make bench` writes: every summary figure of the benchmark, and its tables.
    expected = [label for label, path, _, _ in SUMMARY if path[0] == "fanout"]
    assert [row[0] for row in summary_rows({"fanout": result})] == expected
    text = render({"fanout": result})
    assert all(t["title"] in text for t in result["tables"])
