"""The alarms watch metrics the code really emits: same namespace, name and dimensions.

CloudWatch matches a metric by its exact dimension set, so an alarm with one dimension too
many or too few watches nothing and never fires. The emitted side is read from the EMF
documents observability.py prints, not restated here.
"""

import json

import pytest

from chalicelib import observability
from chalicelib.domain.billing_message import STALE_AFTER_MINUTES
from chalicelib.services.billing import RunReport
from harness.factories import make_session

REQUIRED = {
    # alarm: (namespace, metric, statistic, threshold)
    "BillingFailuresAlarm": ("SessionTimer", "BillingFailures", "Sum", 0),
    "SessionsLeftOverAlarm": ("SessionTimer", "SessionsLeftOver", "Sum", 0),
    "ShardsCutShortAlarm": ("SessionTimer", "ShardsCutShort", "Sum", 0),
    "TimerStartLagAlarm": ("SessionTimer", "TimerStartLag", "p99", 1000),
}


def deployed_environment(template, handler, monkeypatch) -> None:
    """The packaged function's plain environment variables: Powertools adds the `service`
    dimension from POWERTOOLS_SERVICE_NAME, so what is emitted depends on them."""
    env = template.functions[template.function_by_handler(handler)]["Properties"]["Environment"]["Variables"]
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)


def emitted_metrics(template, capsys, monkeypatch) -> dict:
    """(namespace, metric name) -> dimensions {name: value} of every EMF document the
    functions print, each run in its packaged environment."""
    with monkeypatch.context() as patch:
        deployed_environment(template, "app.app", patch)
        observability.timer_started(make_session(), 12, lag_source="request_time_epoch")
    with monkeypatch.context() as patch:
        deployed_environment(template, "app.bill_active_sessions", patch)
        observability.billing_dispatched({"event_id": "e", "minute": 1, "shards": 1, "sent": 1, "unsent": 0})
    with monkeypatch.context() as patch:
        # The billing runs are the queue workers' now: their metrics are emitted there.
        deployed_environment(template, "app.bill_shards", patch)
        observability.billing_run_finished(RunReport().as_dict())
        observability.shard_messages_skipped(stale=1, duplicate=0)
    metrics = {}
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            [dimension_names] = directive["Dimensions"]
            for metric in directive["Metrics"]:
                metrics[(directive["Namespace"], metric["Name"])] = {d: document[d] for d in dimension_names}
    return metrics


def alarms(template) -> dict:
    return template.of_type("AWS::CloudWatch::Alarm")


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_alarm_watches_the_emitted_metric(template, capsys, monkeypatch, name):
    namespace, metric, statistic, threshold = REQUIRED[name]
    props = alarms(template)[name]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == (namespace, metric)
    assert props.get("Statistic", props.get("ExtendedStatistic")) == statistic
    assert props["Threshold"] == threshold and props["ComparisonOperator"] == "GreaterThanThreshold"
    emitted = emitted_metrics(template, capsys, monkeypatch)
    assert (namespace, metric) in emitted, sorted(emitted)
    watched = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    if metric == "TimerStartLag":
        # Only starts at creation: a legacy start's lag is the old release's delay, not ours.
        assert watched["initialized"] == "at_creation"
        watched["initialized"] = emitted[(namespace, metric)]["initialized"]
    assert watched == emitted[(namespace, metric)]


def test_every_alarm_on_our_namespace_watches_an_emitted_metric(template, capsys, monkeypatch):
    emitted = emitted_metrics(template, capsys, monkeypatch)
    ours = [a["Properties"] for a in alarms(template).values() if a["Properties"].get("Namespace") == "SessionTimer"]
    assert len(ours) >= len(REQUIRED)
    for props in ours:
        assert ("SessionTimer", props["MetricName"]) in emitted, props["MetricName"]
        assert set(d["Name"] for d in props["Dimensions"]) == set(emitted[("SessionTimer", props["MetricName"])])


def test_api_5xx_rate_alarm_watches_this_stacks_api_stage(template):
    props = alarms(template)["ApiServerErrorRateAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m}
    assert {m["MetricName"] for m in stats.values()} == {"5XXError", "Count"}
    for metric in stats.values():
        assert metric["Namespace"] == "AWS/ApiGateway"
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dimensions == {"ApiName": template.api["Name"], "Stage": template.api["StageName"]}
    [rate] = [m for m in props["Metrics"] if m.get("ReturnData", True)]
    assert "errors" in rate["Expression"] and "requests" in rate["Expression"]
    assert 0 < props["Threshold"] <= 5  # percent


def test_billing_function_alarms_watch_the_packaged_functions(template):
    dispatcher = template.function_by_handler("app.bill_active_sessions")
    worker = template.function_by_handler("app.bill_shards")
    lambda_alarms = {
        (a["Properties"]["MetricName"], a["Properties"]["Dimensions"][0]["Value"]["Ref"]): a["Properties"]
        for a in alarms(template).values()
        if a["Properties"].get("Namespace") == "AWS/Lambda"
    }
    # Only the schedule's dispatcher runs at a known rate: too few invocations is its alarm.
    assert set(lambda_alarms) == {("Errors", dispatcher), ("Invocations", dispatcher), ("Errors", worker)}
    for props in lambda_alarms.values():
        assert [d["Name"] for d in props["Dimensions"]] == ["FunctionName"]
    # No data at all is the failure this alarm exists for.
    assert lambda_alarms[("Invocations", dispatcher)]["TreatMissingData"] == "breaching"
    assert lambda_alarms[("Errors", worker)]["Threshold"] == 0


def test_queue_alarms_watch_the_stacks_own_billing_queues(template):
    sqs_alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in alarms(template).values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    }
    assert set(sqs_alarms) == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}
    dead_letters = sqs_alarms["ApproximateNumberOfMessagesVisible"]
    # AWS/SQS names a queue by its name alone: the template's own queue, not a typed name.
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ShardDeadLetterQueue", "QueueName"]}}
    ]
    assert (dead_letters["Threshold"], dead_letters["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    oldest = sqs_alarms["ApproximateAgeOfOldestMessage"]
    assert oldest["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ShardQueue", "QueueName"]}}]
    assert oldest["Statistic"] == "Maximum" and oldest["ComparisonOperator"] == "GreaterThanThreshold"
    # Above a minute (a message is normally taken within seconds), at most when a worker would
    # find it stale and skip it: past that, shards go unbilled.
    assert 60 <= oldest["Threshold"] <= STALE_AFTER_MINUTES * 60
    assert oldest["DatapointsToAlarm"] >= 2


def test_every_alarm_notifies_the_alarm_topic(template):
    assert alarms(template)
    for name, alarm in alarms(template).items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"].get("AlarmDescription"), name
    assert template.resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
