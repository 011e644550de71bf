"""bench/stage_vs_bare.py still runs (quick mode) and measures what it says, and its bare stage
still sends the DynamoDB requests ours sends. Counts and shapes only, never timings."""

import base64
import json
import math
import os
import time
import urllib.request

import pytest

from bench.report import SUMMARY, render, summary_rows
from bench.seed_scenario import ADVISOR, RATE
from bench.stage_vs_bare import BALANCE, CLIENTS, STAGES, BareStage, run
from harness.client import HttpClient
from harness.local_stage import RunningStage

pytestmark = pytest.mark.e2e


def test_quick_run_measures_both_stages_with_every_request_answered():
    result = run(quick=True)
    settings = result["settings"]
    for name in STAGES:
        seed, poll, start = (result[name][phase] for phase in ("seed", "poll", "start"))
        assert seed["errors"] == 0 and seed["pages"] == settings["pages"]
        assert seed["polls"] == len(settings["poll_at_s"]) * settings["pages"]
        assert poll["errors"] == 0 and poll["clients"] == CLIENTS
        # Every client polls at least once a round, and a session's elapsed never goes back.
        assert poll["polls"] >= CLIENTS * settings["poll_rounds"]
        assert poll["elapsed_decreases"] == 0
        assert start["errors"] == 0 and start["starts"] == settings["starts"]
        # The timer starts while the start is handled: between its send and its answer.
        assert start["started_at_outside"] == 0
    assert set(result["ratios"]) >= {"snap_median", "snap_p95", "poll_throughput", "start_p50"}
    for value in result["ratios"].values():
        assert math.isfinite(value) and value > 0
    # What `make bench` writes: every summary figure of the benchmark, and its table.
    expected = [label for label, path, _, _ in SUMMARY if path[0] == "stage_vs_bare"]
    assert [row[0] for row in summary_rows({"stage_vs_bare": result})] == expected
    assert result["tables"][0]["title"] in render({"stage_vs_bare": result})


def _moto(stage: RunningStage, action: str) -> str:
    method = "GET" if action == "download-recording" else "POST"
    request = urllib.request.Request(f"{stage.dynamodb_url}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read().decode()


def _shape(value, key=""):
    """A request's body with its instants, tokens and string values reduced to their types:
    what must match is the operations, tables, keys, attributes, expressions and options."""
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__ if key in ("S", "N", "ClientRequestToken") else value


def _recorded(stage: RunningStage, do) -> list:
    """The DynamoDB requests moto received while `do()` ran: (operation, body)."""
    _moto(stage, "reset-recording")
    _moto(stage, "start-recording")
    try:
        do()
    finally:
        _moto(stage, "stop-recording")
    requests = []
    for line in _moto(stage, "download-recording").splitlines():
        entry = json.loads(line)
        target = entry["headers"].get("X-Amz-Target", "")
        if target.startswith("DynamoDB_"):  # the local stage's queue consumer asks SQS all along
            body = base64.b64decode(entry["body"]).decode() if entry["body_encoded"] else entry["body"]
            requests.append((target.split(".")[1], body))
    return requests


def _requests_per_operation(stage: RunningStage, api: HttpClient, name: str) -> dict:
    """A start without and with a session_id, a poll, and a poll whose heartbeat is due: each
    one's requests as _shape has them, the stage's own ids written as placeholders."""
    user, keyed_user = (stage.add_user(f"rec-{name}-{i}", BALANCE) for i in (1, 2))
    keyed, replies, done = f"rec-{name}-page-0001", [], {}
    done["start"] = _recorded(stage, lambda: replies.append(api.start(user, ADVISOR)))
    session_id = replies[-1].body["session_id"]
    done["poll"] = _recorded(stage, lambda: replies.append(api.poll(user, session_id)))
    # Seen half an idle limit ago: the heartbeat is due, the session is not idle.
    seen = time.time_ns() // 1_000_000 - int(os.environ["SESSION_IDLE_SECONDS"]) * 1000 // 2
    stage.dynamodb().update_item(
        TableName="accounts",
        Key={"user_id": {"S": user}},
        UpdateExpression="SET #seen = :seen",
        ExpressionAttributeNames={"#seen": f"last_seen:{session_id}"},
        ExpressionAttributeValues={":seen": {"N": str(seen)}},
    )
    done["poll_heartbeat"] = _recorded(stage, lambda: replies.append(api.poll(user, session_id)))
    done["start_with_session_id"] = _recorded(
        stage, lambda: replies.append(api.start(keyed_user, ADVISOR, session_id=keyed))
    )
    assert [reply.status for reply in replies] == [201, 200, 200, 201], replies
    ids = {user: "<user>", keyed_user: "<user>", session_id: "<session>", keyed: "<session>"}

    def normalised(body):
        for real, placeholder in ids.items():
            body = body.replace(real, placeholder)
        return _shape(json.loads(body))

    return {op: [(operation, normalised(body)) for operation, body in requests] for op, requests in done.items()}


def test_bare_stage_sends_the_dynamodb_requests_ours_sends(tmp_path):
    recording = {"MOTO_RECORDER_FILEPATH": str(tmp_path / "moto-recording")}
    stage = RunningStage(billing_interval_s=3600, extra_env=recording).start()
    try:
        bare = BareStage(stage.dynamodb_url).start()
        try:
            stage.add_advisor(ADVISOR, RATE)
            sent = {
                name: _requests_per_operation(stage, HttpClient(url), name)
                for name, url in (("bare", bare.api_url), ("ours", stage.api_url))
            }
        finally:
            assert bare.stop() == 0  # SIGTERM stops it cleanly
    finally:
        stage.stop()
    operations = {op: [name for name, _ in requests] for op, requests in sent["ours"].items()}
    assert operations == {
        "start": ["BatchGetItem", "TransactWriteItems"],
        "poll": ["TransactGetItems"],
        "poll_heartbeat": ["TransactGetItems", "UpdateItem"],
        "start_with_session_id": ["BatchGetItem", "TransactWriteItems"],
    }
    for op, requests in sent["ours"].items():
        assert sent["bare"][op] == requests, op
