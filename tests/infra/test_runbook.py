"""docs/operations.md's runbook has an entry for every alarm of infra/resources.json, and its
Logs Insights queries use only fields and values the service's log lines really carry.

The lines are real: requests through the app (a start, a poll DynamoDB throttles), a start
with API Gateway's request time, a billing run through its Lambda handler with one failing
session and one running out of credits, a dispatch to a (moto) billing queue, a worker's batch
with a message to bill, a late one and one that is not ours, and an unhandled error.
"""

import json
import re

import boto3

import app as app_module
from chalicelib.api import dependencies
from chalicelib.api.errors import json_errors
from chalicelib.domain.billing_message import STALE_AFTER_MINUTES, ShardMessage
from chalicelib.domain.billing_order import ShardRead
from chalicelib.domain.validation import StartRequest
from chalicelib.local.driver import DriverContext, scheduled_event
from chalicelib.services.start import start_session
from chalicelib.settings import current
from harness.clock import MINUTE_MS
from harness.dynamo import add_user
from harness.faults import INTERNAL, failing, failing_call
from harness.legacy import captured_log
from tests.infra.lambda_events import sqs_event
from tests.infra.packaged import PROJECT

DOC = PROJECT / "docs" / "operations.md"
RESOURCES = PROJECT / "infra" / "resources.json"
SECTION = "## Runbook: the alarms"
# Logs Insights' own words; its fields start with @ and are left out before this applies.
INSIGHTS_WORDS = {
    "fields",
    "filter",
    "stats",
    "sort",
    "limit",
    "display",
    "dedup",
    "by",
    "as",
    "and",
    "or",
    "not",
    "in",
    "like",
    "asc",
    "desc",
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "pct",
    "bin",
}


def runbook() -> str:
    text = DOC.read_text()
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def headings() -> list:
    return re.findall(r"^### (.+)$", runbook(), re.M)


def alarms() -> dict:
    resources = json.loads(RESOURCES.read_text())["Resources"]
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def insights_queries() -> list:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", runbook(), re.S)
    return [block for block in blocks if re.match(r"\s*(fields|filter|stats)\b", block)]


def compared(query: str) -> list:
    """(field, value) of every `field = "value"` test on the service's own fields."""
    return re.findall(r'(?<![@\w])(\w+) = "([^"]*)"', query)


def fields_of(query: str) -> set:
    text = re.sub(r'"[^"]*"', " ", query)  # values
    text = re.sub(r"/(?:\\.|[^/\n])+/", " ", text)  # regular expressions
    text = re.sub(r"@\w+", " ", text)  # Logs Insights' own fields
    aliases = set(re.findall(r"\bas (\w+)", text))
    return set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)", text)) - INSIGHTS_WORDS - aliases


def logged_lines(api, demo, store, clock, monkeypatch) -> list:
    monkeypatch.setenv("BILLING_WORKERS", "1")  # in-process moto takes one request at a time
    add_user("u-runbook-poor", demo["rate"] + 1)  # one minute of credit: the run ends the session
    with captured_log() as log:
        api.start(demo["user"], demo["advisor"], session_id="runbook-0001")
        api.start("u-runbook-poor", demo["advisor"], session_id="runbook-0002")
        start = StartRequest(advisor_id=demo["advisor"], session_id="runbook-0003")
        start_session(store, clock, demo["other"], start, request_time_ms=clock() - 40)
        with failing(monkeypatch, "TransactGetItems"):
            assert api.poll(demo["user"], "runbook-0001").status == 503
        clock.advance(ms=2 * MINUTE_MS + 1)

        def victim(operation, params):
            return operation == "TransactWriteItems" and "runbook-0003" in json.dumps(params)

        with failing_call(monkeypatch, 0, INTERNAL, matches=victim):
            app_module.bill_active_sessions(scheduled_event(), DriverContext(55_000))
        dispatch_and_bill_a_batch(clock, monkeypatch)
        json_errors(lambda: 1 / 0)()
    lines = log.lines()
    events = {line.get("event") for line in lines}
    expected = {"timer_started", "charge_committed", "billing_failed", "billing_run", "billing_dispatched"}
    assert events >= expected | {"shard_messages_skipped", "shard_message_refused"}, events
    return lines


def dispatch_and_bill_a_batch(clock, monkeypatch) -> None:
    """The deployed billing's own lines: the dispatcher's, then a worker's batch."""
    queue = boto3.client("sqs", region_name=current().region).create_queue(QueueName="runbook-shards")
    with monkeypatch.context() as patch:
        patch.setenv("BILLING_QUEUE_URL", queue["QueueUrl"])
        patch.setattr(dependencies, "_queue", None)
        app_module.bill_active_sessions(scheduled_event(), DriverContext(30_000))
    minute = clock() // MINUTE_MS
    bodies = [
        ShardMessage(ShardRead(0, True), minute).body(),
        ShardMessage(ShardRead(1, False), minute - STALE_AFTER_MINUTES).body(),
        '{"not": "a shard message"}',
    ]
    response = app_module.bill_shards(sqs_event(bodies), DriverContext(55_000, "session-timer-bill_shards"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m3"}]}


def test_every_alarm_has_a_runbook_entry():
    titles = headings()
    assert titles
    for logical_id, props in alarms().items():
        names = {logical_id} | ({props["AlarmName"]} if isinstance(props.get("AlarmName"), str) else set())
        assert any(re.search(rf"\b{re.escape(name)}\b", title) for title in titles for name in names), (
            f"{logical_id} has no '### {logical_id}' entry under '{SECTION}' in docs/operations.md"
        )


def test_every_alarm_the_runbook_names_exists():
    named = {word for title in headings() for word in re.findall(r"\b\w+Alarm\b", title)}
    assert named and named <= set(alarms()), sorted(named - set(alarms()))


def test_the_runbook_queries_use_only_fields_and_values_the_service_logs(api, demo, store, clock, monkeypatch):
    lines = logged_lines(api, demo, store, clock, monkeypatch)
    queries = insights_queries()
    assert len(queries) >= len(alarms())
    for query in queries:
        for field, value in compared(query):
            assert any(line.get(field) == value for line in lines), f"no log line has {field} = {value!r}"
    used = set().union(*map(fields_of, queries))
    logged = {key for line in lines for key in line}
    assert used and used <= logged, f"fields no line carries: {sorted(used - logged)}"
