"""The billing fan-out as packaged: the scheduled dispatcher sends one message per shard to the
stack's own queue, and the queue's workers bill them, bounded, reporting failures per message,
with what no worker can bill kept in a dead-letter queue. Chalice writes a placeholder queue
(app.BILLING_QUEUE_NAME) and the template merge must have replaced it: otherwise the workers
would listen to a queue the stack does not create and nobody would be billed."""

import app as app_module
from tests.infra.packaged import as_list, grants, resource_key

DISPATCHER, WORKER = "app.bill_active_sessions", "app.bill_shards"
QUEUE, DEAD_LETTERS = "ShardQueue", "ShardDeadLetterQueue"
# What Lambda's SQS event source needs of the function's role to poll for it (AWS's
# AWSLambdaSQSQueueExecutionRole, less its logs grants).
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# AWS advises a visibility timeout of at least six times the function's timeout for an SQS
# event source: a batch retried on throttling must not become visible again meanwhile.
VISIBILITY_PER_TIMEOUT = 6
PROD_ACTIVE_SHARDS = "512"


def properties(template, handler) -> dict:
    return template.functions[template.function_by_handler(handler)]["Properties"]


def queue_event(template) -> dict:
    [event] = properties(template, WORKER)["Events"].values()
    return event


def test_the_stack_creates_the_queue_and_its_dead_letter_queue(template):
    queues = template.of_type("AWS::SQS::Queue")
    assert {QUEUE, DEAD_LETTERS} <= set(queues)
    queue, dead_letters = queues[QUEUE]["Properties"], queues[DEAD_LETTERS]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [DEAD_LETTERS, "Arn"]}
    # A few deliveries (a worker crash, a failed shard query) before a message is given up.
    assert 2 <= redrive["maxReceiveCount"] <= 10
    # SQS keeps a dead letter by its first enqueue time: the dead-letter queue must keep it
    # longer than the queue did, or a message would expire on arrival.
    assert dead_letters["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    for props in (queue, dead_letters):
        assert props.get("KmsMasterKeyId") or props.get("SqsManagedSseEnabled") is True


def test_the_workers_consume_the_stacks_own_queue(template):
    event = queue_event(template)
    assert event["Type"] == "SQS"
    queue = event["Properties"]["Queue"]
    # Not Chalice's placeholder, an Fn::Sub of a literal ARN naming app.BILLING_QUEUE_NAME.
    assert app_module.BILLING_QUEUE_NAME not in str(queue)
    assert resource_key(queue) == QUEUE


def test_the_workers_report_failures_per_message_in_batches_of_shards_per_worker(template):
    event = queue_event(template)["Properties"]
    # Without it, one failed shard would redeliver every message of its batch.
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] == app_module.SHARDS_PER_WORKER


def test_the_workers_concurrency_is_bounded_by_a_parameter(template):
    bound = queue_event(template)["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    parameter = template.parameters[bound["Ref"]]
    # Lambda's limits for MaximumConcurrency.
    assert parameter["Type"] == "Number" and parameter["MinValue"] >= 2 and parameter["MaxValue"] <= 1000
    assert parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"]
    assert parameter["Description"]
    # By default, every shard of prod is billed at once: one batch per worker.
    assert parameter["Default"] * app_module.SHARDS_PER_WORKER >= int(PROD_ACTIVE_SHARDS)


def test_a_message_stays_invisible_long_enough_for_its_worker(template):
    queue = template.resources[QUEUE]["Properties"]
    assert queue["VisibilityTimeout"] >= VISIBILITY_PER_TIMEOUT * properties(template, WORKER)["Timeout"]


def test_only_the_dispatcher_is_told_the_queue(template):
    assert properties(template, DISPATCHER)["Environment"]["Variables"]["BILLING_QUEUE_URL"] == {"Ref": QUEUE}
    # A worker told a queue would dispatch instead of bill if it ever ran the scheduled entry.
    for handler in ("app.app", WORKER):
        assert "BILLING_QUEUE_URL" not in properties(template, handler)["Environment"]["Variables"], handler


def sqs_grants(template, handler) -> set:
    return grants(template.statements(template.function_by_handler(handler)), "sqs:")


def test_the_dispatcher_may_only_send_to_the_queue_and_its_failed_runs_queue(template):
    dead_letters = properties(template, DISPATCHER)["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
    assert sqs_grants(template, DISPATCHER) == {("sqs:SendMessage", QUEUE), ("sqs:SendMessage", dead_letters)}


def test_the_worker_may_only_consume_the_queue(template):
    assert sqs_grants(template, WORKER) == {(action, QUEUE) for action in EVENT_SOURCE_ACTIONS}
    statements = [
        s for s in template.statements(template.function_by_handler(WORKER)) if "sqs:ReceiveMessage" in s["Action"]
    ]
    assert [resource_key(r) for s in statements for r in as_list(s["Resource"])] == [QUEUE]


def test_the_queue_needs_no_key_grant(template):
    # alias/aws/sqs (or SQS-managed SSE) lets every principal of the account through SQS; a
    # customer managed key would need kms:GenerateDataKey for the dispatcher and kms:Decrypt
    # for the workers, which the roles do not have.
    for name in (QUEUE, DEAD_LETTERS):
        key = template.resources[name]["Properties"].get("KmsMasterKeyId", "alias/aws/sqs")
        assert key == "alias/aws/sqs", name


def test_prod_has_the_shards_for_a_million_sessions(template):
    shards = {f["Properties"]["Environment"]["Variables"]["ACTIVE_SHARDS"] for f in template.functions.values()}
    # One number for every function: the API writes the shards the dispatcher sends.
    assert len(shards) == 1
    if template.stage == "prod":
        assert shards == {PROD_ACTIVE_SHARDS}
