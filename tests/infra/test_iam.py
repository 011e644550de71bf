"""Least privilege: each function may do on DynamoDB (and SQS) what its code does, and nothing more.

The static tests read the packaged roles. The last three run the code each function runs (the
API's routes, the billing dispatcher, a billing worker's batch and its race paths) on moto,
record every DynamoDB and SQS request it makes, and compare with that function's role: a grant
missing there is an outage in production that nothing else here would notice offline, and a
grant no request needs is privilege to remove. A new code path that needs a new grant extends
the scenario here. What Lambda itself does with a role (the worker's event source polling the
queue, the dispatcher's failed-run dead-letter queue) is checked in test_billing_queue.py and
test_deployable.py.
"""

import contextlib
import json
import threading

import boto3
from botocore.client import BaseClient

import app as app_module
from chalicelib.api import dependencies
from chalicelib.domain.billing_message import ShardMessage
from chalicelib.domain.billing_order import ShardRead
from chalicelib.domain.timer import MS_PER_MINUTE
from chalicelib.local.driver import DriverContext, scheduled_event
from chalicelib.services.billing import RunReport, bill_session
from chalicelib.settings import current
from chalicelib.store.models import TABLES, SessionItem
from chalicelib.store.records import shard_of
from harness.dynamo import add_user
from tests.infra.lambda_events import sqs_event
from tests.infra.packaged import as_list, grants, resource_key

API, DISPATCHER, WORKER = "app.app", "app.bill_active_sessions", "app.bill_shards"
QUEUE_LOGICAL_ID = "ShardQueue"
# The dispatcher's role also lets Lambda (not the code) keep a failed run's event there.
ASYNC_DEAD_LETTERS = ("sqs:SendMessage", "BillingDeadLetterQueue")
# What the code may ask of DynamoDB at all: item reads and conditional writes (transactions
# are made of Put/Update/ConditionCheck), and queries on the sparse active index. Scans,
# deletes, batch writes and table management are operator tools' business, never a Lambda's.
ALLOWED_ACTIONS = {
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
}
ITEM_ACTION_OF_TRANSACTION_PART = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def test_no_wildcard_action_or_resource_for_dynamodb(template):
    for function in template.functions:
        for statement in template.statements(function):
            actions = as_list(statement["Action"])
            assert "*" not in actions and "dynamodb:*" not in actions, function
            if any(a.startswith("dynamodb:") for a in actions):
                assert all("*" not in a for a in actions), (function, actions)
                for resource in as_list(statement["Resource"]):
                    assert resource != "*", (function, statement)
                    # Named through the template, never a hard-coded (or wildcard) ARN.
                    assert isinstance(resource, dict), (function, resource)


def test_only_the_actions_the_code_uses_on_the_stacks_own_tables(template):
    tables = set(TABLES)
    for function in template.functions:
        for action, resource in grants(template.statements(function)):
            assert action in ALLOWED_ACTIONS, (function, action)
            table, _, index = resource.partition("/index/")
            assert table in tables, (function, resource)
            # Query only on the active index: a query on the table or another index is an
            # admin's job (docs/admin.md), and the billing run must not grow with ended sessions.
            assert (action == "dynamodb:Query") == bool(index), (function, action, resource)
            if index:
                assert index == SessionItem.active_by_shard.Meta.index_name


def test_the_api_cannot_query_and_billing_cannot_read_advisors(template):
    api = grants(template.statements(template.function_by_handler(API)))
    billing = grants(template.statements(template.function_by_handler(WORKER)))
    assert not any(action == "dynamodb:Query" for action, _ in api)
    assert any(action == "dynamodb:Query" for action, _ in billing)
    assert not any(resource == "AdvisorsTable" for _, resource in billing)


def test_the_dispatcher_cannot_touch_dynamodb(template):
    # It only sends messages: a dispatcher that could bill would be a second, unbounded biller.
    assert grants(template.statements(template.function_by_handler(DISPATCHER))) == set()


def test_only_the_billing_functions_reach_sqs_and_only_their_own_queues(template):
    queues = set(template.of_type("AWS::SQS::Queue"))
    assert grants(template.statements(template.function_by_handler(API)), "sqs:") == set()
    for handler in (DISPATCHER, WORKER):
        for statement in template.statements(template.function_by_handler(handler)):
            actions = as_list(statement["Action"])
            if any(a.startswith("sqs:") for a in actions):
                assert all(a.startswith("sqs:") and "*" not in a for a in actions), (handler, actions)
                assert {resource_key(r) for r in as_list(statement["Resource"])} <= queues, (handler, statement)


def test_logs_go_only_to_the_functions_own_group(template):
    for name, function in template.functions.items():
        own = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        logs = [s for s in template.statements(name) if any(a.startswith("logs:") for a in as_list(s["Action"]))]
        assert logs, name
        for statement in logs:
            assert set(as_list(statement["Action"])) <= {"logs:CreateLogStream", "logs:PutLogEvents"}
            assert [resource_key(r) for r in as_list(statement["Resource"])] == [own], (name, statement)


# ---- what the code really asks for ----------------------------------------------------


@contextlib.contextmanager
def recording(monkeypatch, service="dynamodb"):
    """Every request to `service` made through botocore (PynamoDB included): (operation, params)."""
    calls, lock = [], threading.Lock()
    original = BaseClient._make_api_call

    def record(client, operation, params):
        if client.meta.service_model.service_name == service:
            with lock:
                calls.append((operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    yield calls
    monkeypatch.setattr(BaseClient, "_make_api_call", original)


# What IAM checks for each SQS request the code may make (SendMessageBatch is authorised as
# sqs:SendMessage, DeleteMessageBatch as sqs:DeleteMessage).
SQS_ACTION = {
    "SendMessage": "sqs:SendMessage",
    "SendMessageBatch": "sqs:SendMessage",
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
}


def needed_sqs(calls, logical_id_of_url) -> set:
    return {(SQS_ACTION[operation], logical_id_of_url[params["QueueUrl"]]) for operation, params in calls}


def needed(calls) -> set:
    """The (action, resource key) pairs IAM checks for these requests."""
    settings = current()
    logical_id = {getattr(settings, field): name for name, (_, field) in TABLES.items()}
    pairs = set()
    for operation, params in calls:
        if operation == "BatchGetItem":
            pairs |= {(f"dynamodb:{operation}", logical_id[t]) for t in params["RequestItems"]}
        elif operation == "TransactWriteItems":
            for part in params["TransactItems"]:
                [(kind, body)] = part.items()
                pairs.add((ITEM_ACTION_OF_TRANSACTION_PART[kind], logical_id[body["TableName"]]))
        elif operation == "TransactGetItems":
            pairs |= {("dynamodb:GetItem", logical_id[p["Get"]["TableName"]]) for p in params["TransactItems"]}
        else:
            resource = logical_id[params["TableName"]]
            if params.get("IndexName"):
                resource += "/index/" + params["IndexName"]
            pairs.add((f"dynamodb:{operation}", resource))
    return pairs


def assert_grants_match(needed_pairs: set, granted: set) -> None:
    assert needed_pairs, "the scenario made no DynamoDB request"
    assert not needed_pairs - granted, "not granted: " + json.dumps(sorted(needed_pairs - granted))
    assert not granted - needed_pairs, "granted, never needed: " + json.dumps(sorted(granted - needed_pairs))


def put_schema1_session(session_id, user_id, advisor_id, now_ms):
    """A record as the previous release wrote it: epoch seconds, no schema_version."""
    SessionItem(
        session_id,
        user_id=user_id,
        advisor_id=advisor_id,
        status="active",
        rate_per_minute=199,
        created_at=now_ms / 1000 - 30,
        timer_start=now_ms / 1000 - 20,
    ).save()


def test_the_api_role_grants_exactly_the_requests_the_routes_make(template, api, demo, clock, monkeypatch):
    user, other, advisor = demo["user"], demo["other"], demo["advisor"]
    add_user("u-poor", 10)
    put_schema1_session("legacy-0001", other, advisor, clock())
    with recording(monkeypatch) as calls:
        assert api.start(user, advisor, session_id="iam-000001")[0] == 201
        assert api.start(user, advisor, session_id="iam-000001")[0] == 200
        assert api.start(user, advisor, session_id="iam-000002")[0] == 409
        assert api.start("u-poor", advisor)[0] == 402
        clock.advance(seconds=75)
        assert api.poll(user, "iam-000001")[0] == 200
        assert api.poll(advisor, "iam-000001")[0] == 200
        assert api.end(advisor, "iam-000001")[0] == 200
        assert api.poll(other, "legacy-0001")[0] == 200  # upgraded on touch
        assert api.end(other, "legacy-0001")[0] == 200
    assert_grants_match(needed(calls), grants(template.statements(template.function_by_handler(API))))


def packaged_timeout_ms(template, handler) -> int:
    return 1000 * template.functions[template.function_by_handler(handler)]["Properties"]["Timeout"]


def test_the_dispatcher_role_grants_exactly_the_requests_a_dispatch_makes(template, dynamo, clock, monkeypatch):
    sqs = boto3.client("sqs", region_name=current().region)
    url = sqs.create_queue(QueueName="iam-shards")["QueueUrl"]
    monkeypatch.setenv("BILLING_QUEUE_URL", url)
    monkeypatch.setattr(dependencies, "_queue", None)
    with recording(monkeypatch, "sqs") as sent, recording(monkeypatch) as dynamodb:
        report = app_module.bill_active_sessions(
            scheduled_event(), DriverContext(packaged_timeout_ms(template, DISPATCHER))
        )
    assert report["sent"] == current().active_shards and report["unsent"] == 0
    assert dynamodb == []
    needed_pairs = needed_sqs(sent, {url: QUEUE_LOGICAL_ID})
    granted = grants(template.statements(template.function_by_handler(DISPATCHER)), "sqs:") - {ASYNC_DEAD_LETTERS}
    assert_grants_match(needed_pairs, granted)


def ids_in_one_shard(prefix: str, count: int):
    """Session ids that share a shard, and that shard."""
    shards = current().active_shards
    by_shard: dict = {}
    for number in range(1000):
        session_id = f"{prefix}-{number:02d}"
        found = by_shard.setdefault(shard_of(session_id, shards), [])
        found.append(session_id)
        if len(found) == count:
            return found, shard_of(session_id, shards)
    raise AssertionError("no shard got enough ids")


def test_the_billing_role_grants_exactly_the_requests_a_run_makes(template, api, demo, clock, store, monkeypatch):
    (paying, short), shard = ids_in_one_shard("iam-bill", 2)
    add_user("u-short", 250)  # pays one minute, then runs out
    assert api.start(demo["user"], demo["advisor"], session_id=paying)[0] == 201
    assert api.start("u-short", demo["advisor"], session_id=short)[0] == 201
    as_read_before_the_run = store.session(paying)
    clock.advance(seconds=150)
    # One shard, so one billing thread: in-process moto is not atomic across threads (a
    # refused transaction restores whole tables, undoing a concurrent charge), which would
    # make the requests vary from one test run to the next.
    monkeypatch.setenv("BILLING_WORKERS", "1")
    body = ShardMessage(ShardRead(shard, True), clock() // MS_PER_MINUTE).body()
    context = DriverContext(packaged_timeout_ms(template, WORKER), "session-timer-dev-bill_shards")
    with recording(monkeypatch, "sqs") as sqs_calls, recording(monkeypatch) as calls:
        # The worker's own entry, as the SQS event source invokes it.
        response = app_module.bill_shards(sqs_event([body]), context)
        # An overlapping worker that read the session before this one charged it: its charge
        # is refused and it re-reads the session.
        bill_session(store, clock, as_read_before_the_run, RunReport())
    assert response == {"batchItemFailures": []}
    assert api.poll("u-short", short)[1]["end_reason"] == "credits_exhausted"
    assert any(operation == "Query" for operation, _ in calls)
    # Receiving and deleting is the event source's work, under the same role (test_billing_queue.py).
    assert sqs_calls == []
    assert_grants_match(needed(calls), grants(template.statements(template.function_by_handler(WORKER))))
