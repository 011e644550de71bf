"""docs/operations.md stays true to the log lines: every field and value its Logs Insights
queries and jq lines use is one the service and the backfill actually emit."""

import dataclasses
import re
from pathlib import Path

from chalicelib.domain.validation import StartRequest
from chalicelib.services.poll import poll_session
from chalicelib.services.start import start_session
from chalicelib.store.dynamo import DynamoStore
from harness.dynamo import add_advisor, add_user
from harness.legacy import BackfillRun, captured_log, legacy_records, put_legacy

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
INSIGHTS_WORDS = {"filter", "stats", "count", "by", "as", "and", "sort", "desc", "bin", "pct", "max", "fields"}


def code_blocks(text: str):
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.S)


def emitted_lines(store, clock, tmp_path):
    """Real lines: a start with API Gateway's request time, and a backfill over every kind of
    schema-1 record (upgrades and skips)."""
    add_user("u-doc", 10_000)
    add_advisor("a-doc", 150)
    put_legacy(legacy_records(clock()).values())
    with captured_log() as log:
        start_session(
            store,
            clock,
            "u-doc",
            StartRequest(advisor_id="a-doc", session_id="doc-session-1"),
            request_time_ms=clock() - 40,
        )
        idle_end_line(store, clock)
    run = BackfillRun(tmp_path, clock)
    return log.lines() + run.log.lines()


def idle_end_line(store, clock):
    """A session its user left, ended by its advisor's poll (a limit of 5 s)."""
    add_user("u-doc-idle", 10_000)
    short = DynamoStore(dataclasses.replace(store.settings, session_idle_seconds=5))
    start_session(short, clock, "u-doc-idle", StartRequest(advisor_id="a-doc", session_id="doc-session-2"))
    clock.advance(seconds=6)
    assert poll_session(short, clock, "a-doc", "doc-session-2")["end_reason"] == "idle"


def test_every_field_and_value_the_queries_use_is_logged(store, clock, tmp_path):
    lines = emitted_lines(store, clock, tmp_path)
    blocks = code_blocks(DOC.read_text())
    insights = [b for b in blocks if b.lstrip().startswith("filter")]
    jq = [b for b in blocks if b.lstrip().startswith("jq")]
    assert len(insights) >= 4 and len(jq) >= 2

    compared = [pair for block in insights for pair in re.findall(r'(\w+) = "([^"]+)"', block)]
    compared += [pair for block in jq for pair in re.findall(r'\.(\w+) == "([^"]+)"', block)]
    for field, value in compared:
        assert any(line.get(field) == value for line in lines), f"no log line has {field} = {value!r}"

    used = {name for block in insights for name in re.findall(r"\b([a-z_]+)\b", block)}
    used -= INSIGHTS_WORDS | {value for _, value in compared}
    used -= {alias for block in insights for alias in re.findall(r"\bas (\w+)", block)}
    used |= {name for block in jq for name in re.findall(r"[{,] ?(\w+)", block)}
    logged = {key for line in lines for key in line}
    assert used and used <= logged, f"fields no line carries: {sorted(used - logged)}"
