"""Benchmarks: each module exposes `run(quick: bool) -> dict` and prints its own figures.

`make bench` (bench/__main__.py) runs them all, prints one table and writes
bench/results.json. They are measurements, not tests: `make test` only runs each in its
quick mode to prove it still works.
"""
