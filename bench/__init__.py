"""Benchmarks: each module exposes `run(quick: bool) -> dict` and prints its own figures.

`make bench` (bench/__main__.py) runs them all, prints one table and writes
bench/results.json. They are measurements, not tests: `make test` only runs each in its
quick mode to prove it still works.
"""

import os

# Benchmarks only ever talk to moto (in-process or the local stage's server): fake
# credentials keep boto3 from looking for real ones, and from ever reaching AWS.
# (The quieter log level is set by bench/__main__.py only: set here, importing bench from a
# test changed the level of every local stage and command the later tests started.)
for _key, _value in (
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(_key, _value)
