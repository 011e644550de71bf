"""The functions of the packaged template: their settings, tables, schedule and logs."""

import json

from chalicelib.settings import Settings
from chalicelib.store.models import TABLES

TABLE_VARIABLES = {logical_id: field.upper() for logical_id, (_, field) in TABLES.items()}
API, DISPATCHER, WORKER = "app.app", "app.bill_active_sessions", "app.bill_shards"


def variables(template, name):
    return template.functions[name]["Properties"]["Environment"]["Variables"]


def test_the_three_functions_are_packaged(template):
    handlers = {f["Properties"]["Handler"] for f in template.functions.values()}
    assert handlers == {API, DISPATCHER, WORKER}


def test_every_function_reads_the_tables_the_template_creates(template):
    assert set(TABLE_VARIABLES.values()) <= {f.upper() for f in Settings.__dataclass_fields__}
    for name in template.functions:
        env = variables(template, name)
        for logical_id, variable in TABLE_VARIABLES.items():
            assert env.get(variable) == {"Ref": logical_id}, (name, variable)
            assert template.resources[logical_id]["Type"] == "AWS::DynamoDB::Table"


def test_every_function_runs_as_its_deployed_stage(template):
    for name in template.functions:
        env = variables(template, name)
        # Only STAGE=local honours X-User-Id (tests/integration/test_identity.py: 401 otherwise).
        assert env["STAGE"] == template.stage, name
        assert "DYNAMODB_ENDPOINT" not in env, name
        assert env["POWERTOOLS_SERVICE_NAME"] == "session-timer"


def test_billing_is_dispatched_every_minute_within_the_minute(template):
    dispatcher = template.functions[template.function_by_handler(DISPATCHER)]["Properties"]
    [event] = dispatcher["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}
    assert dispatcher["Timeout"] < 60


def test_billing_workers_end_before_their_margin_and_the_next_minutes_messages(template):
    worker = template.functions[template.function_by_handler(WORKER)]["Properties"]
    [event] = worker["Events"].values()
    assert event["Type"] == "SQS"
    margin_s = int(variables(template, template.function_by_handler(WORKER))["BILLING_SAFETY_MARGIN_MS"]) / 1000
    # A worker stops taking sessions `margin` before its deadline; the rest of the timeout is
    # the time it has to work, and its shards should be done before the next minute's
    # messages for them are dispatched.
    assert margin_s * 2 <= worker["Timeout"] < 60
    api = template.functions[template.function_by_handler(API)]["Properties"]
    assert api["Timeout"] <= 29  # API Gateway gives up after 29 s; a longer Lambda only costs


def test_every_function_logs_to_a_group_with_retention(template):
    groups = template.of_type("AWS::Logs::LogGroup")
    used = set()
    for name, function in template.functions.items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in groups, name
        used.add(group)
        retention = groups[group]["Properties"]["RetentionInDays"]
        assert retention == {"Ref": "LogRetentionDays"}, name
    assert len(used) == len(template.functions)
    default = template.parameters["LogRetentionDays"]
    assert default["Default"] in default["AllowedValues"]


def test_the_stack_tells_an_operator_its_table_names(template):
    outputs = template.data["Outputs"]
    for logical_id, variable in TABLE_VARIABLES.items():
        name = variable.replace("_TABLE", "").capitalize() + "TableName"
        assert outputs[name]["Value"] == {"Ref": logical_id}, json.dumps(outputs)
