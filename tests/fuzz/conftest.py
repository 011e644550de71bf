import itertools
import os

import pytest

from harness.local_stage import RunningStage

# `make test` replays a bounded, fixed set of cases; `make fuzz` raises the counts and
# explores new cases on every run (FUZZ_EXPLORE=1).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
STATEFUL_SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "15"))
EXPLORE = os.environ.get("FUZZ_EXPLORE") == "1"

ADVISOR = "fuzz-advisor"
RATE = 150
# A recognisable fake ID token sent with every request: no log line may ever contain it.
FAKE_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmdXp6LXNlY3JldC1zdWJqZWN0In0.ZnV6ei1zaWduYXR1cmUtZG8tbm90LWxvZw"


@pytest.fixture(scope="session")
def fuzz_stage():
    """The local stage as `make run` starts it; billing every 2 s so fuzzed sessions get billed
    while they are polled."""
    # INFO as `make run` logs: importing bench/ sets POWERTOOLS_LOG_LEVEL=WARNING in this
    # process, and the stage would inherit it and drop the lines the log test reads.
    stage = RunningStage(billing_interval_s=2, extra_env={"POWERTOOLS_LOG_LEVEL": "INFO"}).start()
    stage.add_advisor(ADVISOR, RATE)
    yield stage
    stage.stop()


@pytest.fixture(scope="session")
def fresh_user(fuzz_stage):
    """A new user with credit for every call: otherwise one active session turns every later
    start into a 409 and the fuzzer stops reaching the 201 path."""
    counter = itertools.count()

    def make(balance: int = 50_000) -> str:
        return fuzz_stage.add_user(f"fuzz-user-{os.getpid()}-{next(counter)}", balance)

    return make


def headers_for(user: str) -> dict:
    return {"X-User-Id": user, "Authorization": FAKE_TOKEN}
