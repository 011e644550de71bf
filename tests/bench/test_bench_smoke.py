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


def test_timing_benchmarks_produce_figures():
    from bench.cold_start import run as cold_start
    from bench.handler_overhead import run as handler_overhead

    cold = cold_start(quick=True)
    handler = handler_overhead(quick=True)
    for value in (cold["app_import_ms"], cold["dependencies_import_ms"], handler["ratio"]):
        assert value > 0 and math.isfinite(value)
    assert cold["app_import_ms"] > cold["dependencies_import_ms"] * 0.5
