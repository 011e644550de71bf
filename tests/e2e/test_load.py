"""A short load on the local stage (bench/load.py, which `make bench` runs longer): concurrent
pollers and starters with billing running underneath. Figures are printed, never asserted;
what is asserted is that nothing went wrong."""


def test_concurrent_pollers_and_starters_lose_nothing_and_never_go_back(stage):
    from bench.load import drive  # importing bench/ changes this process's environment

    result = drive(stage, seconds=6, pollers=6, starters=2)
    print(result)
    assert result["errors"] == 0, result["error_samples"]
    assert result["elapsed_decreases"] == 0, result["decrease_samples"]
    assert result["books_mismatches"] == 0, result["mismatch_samples"]
    # It did run: every poller's session and at least one starter round were checked.
    assert result["sessions_checked"] >= 6 + 1
    assert result["operations"]["poll"]["count"] > result["sessions_checked"]
