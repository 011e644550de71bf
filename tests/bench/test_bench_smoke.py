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
    assert cold["ours_import_ms"] > 0 and cold["ratio_paired"] > 1


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


def test_the_request_profile_charges_every_sample_to_one_layer():
    from bench.profile_requests import LAYER_KEYS, run
    from bench.report import SUMMARY, render, summary_rows

    result = run(quick=True)
    for path in ("in_process", "over_http"):
        for op in ("start", "poll"):
            figures = result[path][op]
            assert figures["requests"] == result["requests"]
            assert set(figures["fractions"]) == set(LAYER_KEYS)
            assert all(0 <= f <= 1 for f in figures["fractions"].values())
            assert math.isclose(sum(figures["fractions"].values()), 1, abs_tol=1e-9), (path, op)
            assert 0 < figures["dynamodb_fraction"] < 1 and 0 < figures["ours_fraction"] < 1
            assert figures["unprofiled_ms"] > 0
            assert all(0 <= fraction <= 1 for _, fraction in figures["hot"])
        # Only the API server's path has a server layer.
        assert (result[path]["poll"]["fractions"]["server"] > 0) == (path == "over_http")
    [layers, hot] = result["tables"]
    assert len(layers["rows"]) == len(LAYER_KEYS) + 1 and len(layers["header"]) == 1 + 2 * 4
    assert hot["rows"]
    expected = [label for label, path, _, _ in SUMMARY if path[0] == "profile_requests"]
    assert [row[0] for row in summary_rows({"profile_requests": result})] == expected
    text = render({"profile_requests": result})
    assert all(t["title"] in text for t in result["tables"])


def test_a_sample_is_charged_to_its_innermost_frame_with_a_layer():
    from bench.profile_requests import PROJECT, breakdown, sample_layer

    def frame(function, path):
        return f"{function}\x00{path}\x001"

    site = "/venv/lib/python3.13/site-packages"
    ours = frame("poll_session", f"{PROJECT}/chalicelib/services/poll.py")
    chalice = frame("__call__", f"{site}/chalice/app.py")
    botocore = frame("_make_api_call", f"{site}/botocore/client.py")
    moto = frame("transact_get_items", f"{site}/moto/dynamodb/responses.py")
    stdlib_json = frame("loads", "/usr/lib/python3.13/json/__init__.py")
    stdlib_other = frame("deepcopy", "/usr/lib/python3.13/copy.py")
    cache: dict = {}
    # moto's deepcopy is moto's; json inside botocore is the DynamoDB call's, inside Chalice JSON's.
    assert sample_layer([chalice, ours, botocore, moto, stdlib_other], cache)[0] == "dynamodb_backend"
    assert sample_layer([chalice, ours, botocore, stdlib_json], cache)[0] == "dynamodb_client"
    assert sample_layer([chalice, stdlib_json], cache)[0] == "json"
    assert sample_layer([chalice, ours], cache)[0] == "ours"
    assert sample_layer([frame("deadline", f"{PROJECT}/chalicelib/store/failures.py")], cache)[0] == "middleware"
    assert sample_layer([frame("current", f"{PROJECT}/chalicelib/settings.py")], cache)[0] == "settings"
    assert sample_layer([stdlib_other], cache)[0] == "other"
    seconds, _, total = breakdown([([chalice, ours], 0.002), ([chalice, ours, botocore], 0.006)])
    assert (seconds["ours"], seconds["dynamodb_client"], total) == (0.002, 0.006, 0.008)
