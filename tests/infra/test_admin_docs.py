"""docs/admin.md's AWS CLI examples, run as printed (pinned awscli) against a local stage.

The only change made to a block is the local DynamoDB URL: the doc says port 8001, the test
stage listens on a free port. Each example must show the sessions or charges the seeded data
says it should, and nothing it should not.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.client import HttpClient
from harness.local_stage import PROJECT, RunningStage

pytestmark = pytest.mark.e2e

DOC = PROJECT / "docs" / "admin.md"
DOC_ENDPOINT = "http://localhost:8001"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
NEEDS_THE_STACK = "describe-stacks"
LOCAL_SETUP = "AWS_ENDPOINT_URL_DYNAMODB="
ALL_OF_DEMO_USER = {"page-0001", "page-0002", "page-0003", "page-0004"}

# In the doc's order: (text the block holds, ids its output shows, ids it must not show).
EXPECTED = [
    ("--endpoint-url http://localhost:8001", ALL_OF_DEMO_USER, set()),
    ('"$SESSIONS_TABLE" --index-name by_user', ALL_OF_DEMO_USER, set()),
    ("--index-name by_advisor", ALL_OF_DEMO_USER, set()),
    ("--index-name active_by_shard", {"page-0002"}, ALL_OF_DEMO_USER - {"page-0002"}),
    ("--index-name by_day", {"page-0003"}, ALL_OF_DEMO_USER - {"page-0003"}),
    ('"$LEDGER_TABLE" --index-name by_user', {"page-0001", "user"}, {"page-0003"}),
    ("get-item", {"page-0001", str(10_000 - 199)}, set()),
]


def sh_blocks():
    return SH_BLOCK.findall(DOC.read_text())


def examples():
    return [b for b in sh_blocks() if NEEDS_THE_STACK not in b and LOCAL_SETUP not in b]


def put_session(stage, session_id, started_at_ms, iso, ended_at_ms, ended_iso):
    """A finished session as this release stores it, on a chosen day (the by_day example's)."""
    stage.dynamodb().put_item(
        TableName="sessions",
        Item={
            "session_id": {"S": session_id},
            "user_id": {"S": "demo-user"},
            "advisor_id": {"S": "demo-advisor"},
            "status": {"S": "ended"},
            "schema_version": {"N": "2"},
            "timer_init": {"S": "at_creation"},
            "started_at_ms": {"N": str(started_at_ms)},
            "started_at": {"S": iso},
            "started_day": {"S": iso[:10]},
            "ended_at_ms": {"N": str(ended_at_ms)},
            "ended_at": {"S": ended_iso},
            "end_reason": {"S": "user"},
            "rate_per_minute": {"N": "199"},
            "billed_minutes": {"N": "0"},
            "charged": {"N": "0"},
        },
    )


@pytest.fixture(scope="module")
def seeded_stage():
    # Billing stays out of the way: a run would charge the active session while the examples read.
    stage = RunningStage(billing_interval_s=3600).start()
    try:
        api = HttpClient(stage.api_url)
        assert api.start("demo-user", "demo-advisor", session_id="page-0001").status == 201
        assert api.end("demo-user", "page-0001").status == 200  # one started minute: 199
        assert api.start("demo-user", "demo-advisor", session_id="page-0002").status == 201
        # 2025-11-27 09:30 UTC, inside the by_day example's hour; 10:00 is its first instant outside.
        put_session(
            stage, "page-0003", 1764235800000, "2025-11-27T09:30:00.000Z", 1764235810000, "2025-11-27T09:30:10.000Z"
        )
        put_session(
            stage, "page-0004", 1764237600000, "2025-11-27T10:00:00.000Z", 1764237610000, "2025-11-27T10:00:10.000Z"
        )
        yield stage
    finally:
        stage.stop()


def run(stage, script: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the pinned aws
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    script = script.replace(DOC_ENDPOINT, stage.dynamodb_url)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=180
    )


def test_every_cli_block_is_accounted_for():
    blocks = sh_blocks()
    assert sum(NEEDS_THE_STACK in b for b in blocks) == 1
    assert sum(LOCAL_SETUP in b for b in blocks) == 1
    found = examples()
    assert len(found) == len(EXPECTED), "a CLI example was added or removed: update EXPECTED"
    for (marker, _, _), block in zip(EXPECTED, found, strict=True):
        assert marker in block


def test_the_deployed_setup_is_valid_shell():
    [setup] = [b for b in sh_blocks() if NEEDS_THE_STACK in b]
    done = subprocess.run(["bash", "-n"], input=setup, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("SessionsTableName", "AccountsTableName", "LedgerTableName"):
        assert name in setup  # the stack Outputs infra/resources.json declares


@pytest.mark.parametrize("index", range(len(EXPECTED)), ids=[marker for marker, _, _ in EXPECTED])
def test_cli_example_shows_what_the_data_holds(seeded_stage, index):
    [setup] = [b for b in sh_blocks() if LOCAL_SETUP in b]
    marker, shown, hidden = EXPECTED[index]
    block = examples()[index]
    assert marker in block
    setup_lines = setup.splitlines()
    if DOC_ENDPOINT in block:  # it names its endpoint itself: run it without the shell-wide one
        setup_lines = [line for line in setup_lines if LOCAL_SETUP not in line]
    done = run(seeded_stage, "\n".join(setup_lines) + "\n" + block)
    assert done.returncode == 0, done.stderr
    missing = {text for text in shown if text not in done.stdout}
    assert not missing, done.stdout
    leaked = {text for text in hidden if text in done.stdout}
    assert not leaked, done.stdout
