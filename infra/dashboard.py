"""The stack's CloudWatch dashboard, generated: the metrics the code emits, the alarms, AWS's own.

The dashboard is `Resources.Dashboard` of infra/resources.json, one `Fn::Sub` string of
compact JSON, so `${AWS::Region}`, `${SessionsTable}`, `${APIHandler}`... name this stack's
resources. It is generated from that same file (its tables, its alarms, the API's name) and
from .chalice/config.json (the metrics namespace, the `service` dimension Powertools adds,
the billing workers' timeout); never edit it by hand. What each row shows and what to do
when an alarm fires: docs/operations.md, "Runbook: the alarms".

    python infra/dashboard.py            print the generated resource
    python infra/dashboard.py --check    exit 1 when the file holds another dashboard
    python infra/dashboard.py --write    set Resources.Dashboard in the file
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "infra" / "resources.json"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
LOGICAL_ID = "Dashboard"
GRID_WIDTH = 24

# The values of TimerStartLag's `initialized` dimension: a session's timer_init
# (chalicelib/domain/session.py). The alarm watches at_creation only.
TIMER_INITS = ("at_creation", "legacy_timer_start", "legacy_created_at")
# The functions of the packaged template (logical ids; `${...}` gives the function name): the
# API, the scheduled billing dispatcher and the queue's billing workers.
FUNCTIONS = {"APIHandler": "API", "BillActiveSessions": "dispatcher", "BillShards": "workers"}
# The billing runs are the workers' (their name in .chalice/config.json): their timeout and
# safety margin are the lines on the run-duration graph.
BILLING_FUNCTION = "bill_shards"
# The queues of the billing fan-out (logical ids; `${X.QueueName}` is what AWS/SQS names them by).
SHARD_QUEUE, SHARD_DEAD_LETTERS = "ShardQueue", "ShardDeadLetterQueue"
CHALICE_DEFAULT_TIMEOUT_S = 60
DEFAULT_SAFETY_MARGIN_MS = 10_000  # chalicelib/settings.py
STATS = (("p99", "p99"), ("Maximum", "max"))
OPERATORS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


# --- reading the template and the Chalice config ---------------------------------------------


def sub_text(value) -> str:
    """A template value as text inside a `Fn::Sub` string."""
    if isinstance(value, str):
        return value.replace("${", "${!")
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    raise ValueError(f"cannot write {value!r} inside Fn::Sub")


def of_type(template: dict, kind: str) -> Dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == kind}


def alarms(template: dict) -> Dict[str, dict]:
    return {name: r["Properties"] for name, r in of_type(template, "AWS::CloudWatch::Alarm").items()}


def deployed_setting(config: dict, read) -> object:
    """One setting every deployed stage (all but `local`) agrees on: one dashboard serves them all."""
    values = {stage: read(config, settings) for stage, settings in config["stages"].items() if stage != "local"}
    if len(set(map(json.dumps, values.values()))) != 1:
        raise ValueError(f"the deployed stages disagree, one dashboard cannot show them all: {values}")
    return next(iter(values.values()))


def _variable(name: str, default: Optional[str] = None):
    def read(config: dict, stage: dict) -> Optional[str]:
        return {**config.get("environment_variables", {}), **stage.get("environment_variables", {})}.get(name, default)

    return read


def _billing_timeout_s(config: dict, stage: dict) -> int:
    for scope in (stage.get("lambda_functions", {}).get(BILLING_FUNCTION, {}), stage):
        if "lambda_timeout" in scope:
            return scope["lambda_timeout"]
    for scope in (config.get("lambda_functions", {}).get(BILLING_FUNCTION, {}), config):
        if "lambda_timeout" in scope:
            return scope["lambda_timeout"]
    return CHALICE_DEFAULT_TIMEOUT_S


class Context:
    """What the widgets are built from."""

    def __init__(self, template: dict, config: dict):
        self.namespace = deployed_setting(config, _variable("POWERTOOLS_METRICS_NAMESPACE"))
        self.service = deployed_setting(config, _variable("POWERTOOLS_SERVICE_NAME"))
        if not (self.namespace and self.service):
            raise ValueError(
                "POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME must be set in .chalice/config.json"
            )
        margin = deployed_setting(config, _variable("BILLING_SAFETY_MARGIN_MS", str(DEFAULT_SAFETY_MARGIN_MS)))
        self.safety_margin_ms = int(margin)
        self.billing_timeout_ms = 1000 * deployed_setting(config, _billing_timeout_s)
        self.api_stage = deployed_setting(config, lambda config, stage: stage.get("api_gateway_stage", "api"))
        self.api_name = sub_text(template["Resources"]["RestAPI"]["Properties"]["Name"])
        self.alarms = alarms(template)
        self.tables = of_type(template, "AWS::DynamoDB::Table")
        missing = [f for f in (*FUNCTIONS, SHARD_QUEUE, SHARD_DEAD_LETTERS) if f not in template["Resources"]]
        if missing:
            raise ValueError(f"infra/resources.json has no {missing}: the dashboard graphs them")

    def rule(self, alarm: str) -> str:
        """When an alarm fires, in a widget's title: `alarm: > 0 in 2 of 5 x 1 min`."""
        props = self.alarms[alarm]
        period = props.get("Period") or props["Metrics"][0]["MetricStat"]["Period"]
        evaluated = props["EvaluationPeriods"]
        breaching = props.get("DatapointsToAlarm", evaluated)
        operator = OPERATORS[props["ComparisonOperator"]]
        return f"{operator} {props['Threshold']} in {breaching} of {evaluated} x {period // 60} min"

    def threshold(self, alarm: str, label: str) -> dict:
        """A horizontal line at an alarm's threshold, shaded on the side that fires."""
        props = self.alarms[alarm]
        operator = OPERATORS[props["ComparisonOperator"]]
        return {
            "label": f"{alarm}: {label} {operator} {props['Threshold']}",
            "value": props["Threshold"],
            "fill": "above" if operator.startswith(">") else "below",
        }


# --- widgets ---------------------------------------------------------------------------------


def metric(namespace: str, name: str, dimensions: Dict[str, str], **options) -> list:
    row: list = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return row + [options] if options else row


def expression(expr: str, query_id: str, label: str, **options) -> list:
    return [{"expression": expr, "id": query_id, "label": label, **options}]


def graph(
    title: str,
    metrics: List[list],
    *,
    period: int = 60,
    stat: str = "Sum",
    width: int = 8,
    left: Optional[str] = None,
    right: Optional[str] = None,
    lines: Iterable[dict] = (),
) -> dict:
    properties: dict = {
        "title": title,
        "view": "timeSeries",
        "stacked": False,
        "region": "${AWS::Region}",
        "period": period,
        "stat": stat,
        "metrics": metrics,
        "yAxis": {"left": {"min": 0, **({"label": left} if left else {})}},
    }
    if right:
        properties["yAxis"]["right"] = {"min": 0, "label": right}
    lines = list(lines)
    if lines:
        properties["annotations"] = {"horizontal": lines}
    return {"type": "metric", "width": width, "height": 6, "properties": properties}


def text(markdown: str, height: int = 1) -> dict:
    return {"type": "text", "width": GRID_WIDTH, "height": height, "properties": {"markdown": markdown}}


def custom(c: Context, name: str, stat: str, label: str, initialized: Optional[str] = None, **options) -> list:
    """A metric of ours, with every dimension it is published with: Powertools adds `service`,
    TimerStartLag has `initialized` too."""
    dimensions = {"initialized": initialized} if initialized else {}
    return metric(c.namespace, name, {**dimensions, "service": c.service}, stat=stat, label=label, **options)


def function(logical_id: str, name: str, stat: str, label: str) -> list:
    dimensions = {"FunctionName": "${" + logical_id + "}"}
    return metric("AWS/Lambda", name, dimensions, stat=stat, label=f"{FUNCTIONS[logical_id]} {label}")


def queue(logical_id: str, name: str, stat: str, label: str, **options) -> list:
    dimensions = {"QueueName": "${" + logical_id + ".QueueName}"}
    return metric("AWS/SQS", name, dimensions, stat=stat, label=label, **options)


def api(c: Context, name: str, stat: str, label: str, **options) -> list:
    dimensions = {"ApiName": c.api_name, "Stage": c.api_stage}
    return metric("AWS/ApiGateway", name, dimensions, stat=stat, label=label, **options)


def alarm_math(c: Context, alarm: str) -> List[list]:
    """A metric-math alarm's own queries, graphed as it computes them."""
    rows = []
    for query in c.alarms[alarm]["Metrics"]:
        if "MetricStat" in query:
            stat = query["MetricStat"]
            watched = stat["Metric"]
            dimensions = {d["Name"]: sub_text(d["Value"]) for d in watched["Dimensions"]}
            options = {"id": query["Id"], "stat": stat["Stat"], "period": stat["Period"], "visible": False}
            rows.append(metric(watched["Namespace"], watched["MetricName"], dimensions, **options))
        else:
            rows.append(expression(query["Expression"], query["Id"], query.get("Label", query["Id"])))
    return rows


def search_sum(metric_name: str, schema: str, table: str) -> str:
    """One series: the metric summed over a dimension the query cannot name (every operation,
    every index) of one table."""
    search = f'{{AWS/DynamoDB,{schema}}} MetricName="{metric_name}" TableName="${{{table}}}"'
    return f"SUM(SEARCH('{search}', 'Sum'))"


def table_throttles(c: Context, table: str) -> dict:
    name = "${" + table + "}"
    metrics = [
        # ThrottledRequests is published per TableName and Operation only.
        expression(search_sum("ThrottledRequests", "TableName,Operation", table), "requests", "throttled requests"),
        metric("AWS/DynamoDB", "ReadThrottleEvents", {"TableName": name}, label="read throttle events"),
        metric("AWS/DynamoDB", "WriteThrottleEvents", {"TableName": name}, label="write throttle events"),
    ]
    if c.tables[table]["Properties"].get("GlobalSecondaryIndexes"):
        index = "TableName,GlobalSecondaryIndexName"
        metrics += [
            expression(search_sum("ReadThrottleEvents", index, table), "indexreads", "index read throttle events"),
            expression(search_sum("WriteThrottleEvents", index, table), "indexwrites", "index write throttle events"),
        ]
    title = table.removesuffix("Table").lower()
    return graph(f"DynamoDB throttling: {title}", metrics, width=GRID_WIDTH // len(c.tables), left="count")


def rows(c: Context) -> List[List[dict]]:
    deadline_ms = c.billing_timeout_ms - c.safety_margin_ms
    header = (
        "# Session timer\n"
        "What each row shows, and what to do when an alarm fires: `docs/operations.md`, "
        "*Runbook: the alarms*. Logs (CloudWatch Logs Insights): `${ApiHandlerLogGroup}` "
        "(requests, timer starts), `${BillingWorkerLogGroup}` (billing runs, one per batch of shards), "
        "`${BillingLogGroup}` (the dispatcher: one line a minute)."
    )
    alarm_status = {
        "type": "alarm",
        "width": GRID_WIDTH,
        "height": 3,
        "properties": {
            "title": "Alarms",
            "alarms": ["${" + name + ".Arn}" for name in c.alarms],
            "sortBy": "stateUpdatedTimestamp",
        },
    }
    return [
        [text(header, height=2)],
        [alarm_status],
        [text("## Timer starts: the lag between API Gateway receiving a create and its timer's start")],
        [
            graph(
                f"Timer start lag of new sessions, ms (alarm: p99 {c.rule('TimerStartLagAlarm')})",
                [custom(c, "TimerStartLag", p, p, initialized="at_creation") for p in ("p50", "p99")],
                period=300,
                width=12,
                left="ms",
                lines=[c.threshold("TimerStartLagAlarm", "p99")],
            ),
            graph(
                "Timer starts by kind (legacy: records of the previous release upgraded)",
                [custom(c, "TimerStartLag", "SampleCount", kind, initialized=kind) for kind in TIMER_INITS],
                period=300,
                width=12,
                left="starts per 5 min",
            ),
        ],
        [text("## Billing: each minute the dispatcher queues one message per shard, and workers bill them")],
        [
            graph(
                "Charged per minute",
                [
                    custom(c, "MinutesCharged", "Sum", "minutes charged"),
                    custom(c, "UnitsCharged", "Sum", "units charged (minor units)", yAxis="right"),
                ],
                width=12,
                left="minutes",
                right="units",
            ),
            graph(
                "Sessions charged, and ended because the credits ran out or the user went idle",
                [
                    custom(c, "SessionsCharged", "Sum", "sessions charged"),
                    custom(c, "SessionsEndedExhausted", "Sum", "ended: credits exhausted"),
                    custom(c, "SessionsEndedIdle", "Sum", "ended: user idle"),
                ],
                width=12,
                left="sessions",
            ),
        ],
        [
            graph(
                "Billing run duration (ms)",
                [
                    custom(c, "BillingRunDuration", "Maximum", "max"),
                    custom(c, "BillingRunDuration", "p99", "p99"),
                ],
                left="ms",
                lines=[
                    {"label": f"stops taking sessions ({deadline_ms // 1000} s)", "value": deadline_ms},
                    {"label": f"function timeout ({c.billing_timeout_ms // 1000} s)", "value": c.billing_timeout_ms},
                ],
            ),
            graph(
                f"Billing not keeping up (alarms: {c.rule('SessionsLeftOverAlarm')})",
                [
                    custom(c, "SessionsLeftOver", "Sum", "sessions left over"),
                    custom(c, "ShardsCutShort", "Sum", "shards cut short"),
                ],
                left="per minute",
            ),
            graph(
                f"Billing failures (alarm: {c.rule('BillingFailuresAlarm')})",
                [custom(c, "BillingFailures", "Sum", "sessions or shards failed")],
                left="per minute",
            ),
        ],
        [
            graph(
                "Shard messages per minute (stale: late, skipped by a worker)",
                [
                    custom(c, "ShardMessagesSent", "Sum", "sent by the dispatcher"),
                    custom(c, "ShardMessagesUnsent", "Sum", "not sent"),
                    custom(c, "ShardMessagesStale", "Sum", "stale"),
                ],
                width=6,
                left="messages",
            ),
            graph(
                f"Oldest shard message, s (alarm: {c.rule('ShardQueueOldestMessageAlarm')})",
                [
                    queue(SHARD_QUEUE, "ApproximateAgeOfOldestMessage", "Maximum", "age of the oldest"),
                    queue(SHARD_QUEUE, "ApproximateNumberOfMessagesVisible", "Maximum", "waiting", yAxis="right"),
                    queue(SHARD_QUEUE, "ApproximateNumberOfMessagesNotVisible", "Maximum", "in flight", yAxis="right"),
                ],
                width=6,
                left="seconds",
                right="messages",
                lines=[c.threshold("ShardQueueOldestMessageAlarm", "age")],
            ),
            graph(
                "Billing workers running at once (bound: BillingWorkerConcurrency)",
                [function("BillShards", "ConcurrentExecutions", "Maximum", "concurrent")],
                width=6,
                left="invocations",
            ),
            graph(
                f"Dead letters (alarm: {c.rule('ShardDeadLettersAlarm')})",
                [queue(SHARD_DEAD_LETTERS, "ApproximateNumberOfMessagesVisible", "Maximum", "dead letters")],
                period=300,
                width=6,
                left="messages",
                lines=[c.threshold("ShardDeadLettersAlarm", "dead letters")],
            ),
        ],
        [text("## API Gateway: every request, as the chat page sees it")],
        [
            graph(
                "API requests and errors",
                [
                    api(c, "4XXError", "Sum", "4xx"),
                    api(c, "5XXError", "Sum", "5xx"),
                    api(c, "Count", "Sum", "requests", yAxis="right"),
                ],
                left="errors",
                right="requests",
            ),
            graph(
                f"API 5xx rate, % (alarm: {c.rule('ApiServerErrorRateAlarm')})",
                alarm_math(c, "ApiServerErrorRateAlarm"),
                period=300,
                left="percent",
                lines=[c.threshold("ApiServerErrorRateAlarm", "5xx %")],
            ),
            graph(
                "API latency (ms)",
                [
                    api(c, "Latency", "p50", "latency p50"),
                    api(c, "Latency", "p99", "latency p99"),
                    api(c, "IntegrationLatency", "p99", "integration (Lambda) p99"),
                ],
                left="ms",
            ),
        ],
        [text("## Lambda: the API, the billing dispatcher and the billing workers")],
        [
            graph(
                f"Function errors and throttles (alarms: dispatcher errors {c.rule('BillingFunctionErrorsAlarm')}, "
                f"workers errors {c.rule('BillingWorkerErrorsAlarm')})",
                [function(f, name, "Sum", name.lower()) for f in FUNCTIONS for name in ("Errors", "Throttles")],
                left="per minute",
            ),
            graph(
                "Function duration (ms)",
                [function(f, "Duration", stat, label) for f in FUNCTIONS for stat, label in STATS],
                left="ms",
            ),
            graph(
                f"Dispatcher invocations per 5 min (alarm: {c.rule('BillingNotRunningAlarm')})",
                [function("BillActiveSessions", "Invocations", "Sum", "invocations")],
                period=300,
                left="invocations",
                lines=[c.threshold("BillingNotRunningAlarm", "invocations")],
            ),
        ],
        [text("## DynamoDB: throttling per table (the service answers 503 + Retry-After)")],
        [table_throttles(c, table) for table in c.tables],
    ]


def layout(widget_rows: List[List[dict]]) -> List[dict]:
    """Widgets placed left to right, row after row."""
    placed, y = [], 0
    for row in widget_rows:
        x = 0
        for widget in row:
            placed.append({"type": widget["type"], "x": x, "y": y, **widget})
            x += widget["width"]
        if x > GRID_WIDTH:
            raise ValueError(f"a row wider than the grid: {[w['properties'].get('title') for w in row]}")
        y += max(widget["height"] for widget in row)
    return placed


def body(template: dict, config: dict) -> dict:
    """The dashboard as CloudWatch reads it, `${...}` still to be substituted."""
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": layout(rows(Context(template, config)))}


def dashboard(template: dict, config: Optional[dict] = None) -> dict:
    """The `AWS::CloudWatch::Dashboard` resource for `template` (infra/resources.json's content)."""
    if config is None:
        config = json.loads(CHALICE_CONFIG.read_text())
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": {"Ref": "AWS::StackName"},
            "DashboardBody": {"Fn::Sub": json.dumps(body(template, config), separators=(",", ":"))},
        },
    }


# --- the command -----------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="set Resources.Dashboard in the template file")
    action.add_argument(
        "--check", action="store_true", help="exit 1 when the file's dashboard is not the generated one"
    )
    parser.add_argument("--template", type=Path, default=SOURCE, help="default infra/resources.json")
    parser.add_argument("--config", type=Path, default=CHALICE_CONFIG, help="default .chalice/config.json")
    args = parser.parse_args(argv)
    data = json.loads(args.template.read_text())
    generated = dashboard(data, json.loads(args.config.read_text()))
    if args.check:
        if data["Resources"].get(LOGICAL_ID) != generated:
            print(f"{args.template}: Resources.{LOGICAL_ID} is stale; run: python infra/dashboard.py --write")
            return 1
        print(f"{args.template}: Resources.{LOGICAL_ID} is up to date")
        return 0
    if args.write:
        data["Resources"][LOGICAL_ID] = generated
        args.template.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote Resources.{LOGICAL_ID} in {args.template}")
        return 0
    json.dump(generated, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
