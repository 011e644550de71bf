"""The CloudWatch dashboard (infra/dashboard.py): committed as generated, and every graph on it
shows something that exists: the metrics the code emits with the dimensions it emits them
with, every alarm's metric, and names this template defines.

CloudWatch matches a metric by its exact dimension set: a graph naming one dimension too many
or too few stays empty without any error, so the emitted side is read from the EMF documents
observability.py prints, not restated here. All but the last test read infra/resources.json
from disk; the last one packages the template.
"""

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from chalicelib import observability
from chalicelib.domain.session import AT_CREATION, LEGACY_CREATED_AT, LEGACY_TIMER_START
from chalicelib.services.billing import RunReport
from harness.factories import make_session
from harness.legacy import captured_log
from tests.infra.packaged import PROJECT

SCRIPT = PROJECT / "infra" / "dashboard.py"
RESOURCES = PROJECT / "infra" / "resources.json"
CHALICE_CONFIG = PROJECT / ".chalice" / "config.json"
PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}
SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")


def dashboard_module():
    spec = importlib.util.spec_from_file_location("dashboard", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resources() -> dict:
    return json.loads(RESOURCES.read_text())


def alarms(template: dict) -> dict:
    return {n: r["Properties"] for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


@pytest.fixture(scope="module")
def generated() -> dict:
    return dashboard_module().dashboard(resources())


@pytest.fixture(scope="module")
def body(generated) -> dict:
    return json.loads(generated["Properties"]["DashboardBody"]["Fn::Sub"])


def metric_widgets(body: dict) -> list:
    return [w["properties"] for w in body["widgets"] if w["type"] == "metric"]


def graphed(body: dict) -> set:
    """(namespace, metric, {dimension: value} as a sorted tuple, stat, period) of every metric
    queried on the dashboard, `${...}` left as written."""
    found = set()
    for props in metric_widgets(body):
        for row in props["metrics"]:
            options = row[-1] if isinstance(row[-1], dict) else {}
            if "expression" in options:
                continue
            namespace, name, *pairs = row[:-1] if options else row
            assert "." not in (namespace, name, *pairs), "no '.' shorthand: every row spells its metric out"
            dimensions = tuple(sorted(zip(pairs[::2], pairs[1::2], strict=True)))
            stat = options.get("stat", props["stat"])
            found.add((namespace, name, dimensions, stat, options.get("period", props["period"])))
    return found


def expressions(body: dict) -> set:
    return {row[0]["expression"] for props in metric_widgets(body) for row in props["metrics"] if len(row) == 1}


def as_sub(value) -> str:
    """An alarm's dimension value as the dashboard's Fn::Sub text writes it."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    return "${" + value["Ref"] + "}" if isinstance(value, dict) else value


def emitted_metrics(capsys, monkeypatch) -> set:
    """(namespace, metric, dimensions) of every EMF document the code prints, for each kind of
    timer start, a dispatch, a billing run and a worker's skipped messages, under each deployed
    stage's environment of .chalice/config.json (Powertools takes the `service` dimension from it)."""
    config = json.loads(CHALICE_CONFIG.read_text())
    capsys.readouterr()
    for stage, settings in config["stages"].items():
        if stage == "local":
            continue
        with monkeypatch.context() as patch, captured_log():
            for name, value in {**config["environment_variables"], **settings.get("environment_variables", {})}.items():
                patch.setenv(name, value)
            for kind, source in (
                (AT_CREATION, "request_time"),
                (LEGACY_TIMER_START, "legacy_created_at"),
                (LEGACY_CREATED_AT, "legacy_created_at"),
            ):
                observability.timer_started(make_session(timer_init=kind), 12, lag_source=source)
            observability.billing_run_finished(RunReport().as_dict())
            observability.billing_dispatched({"event_id": "e", "minute": 1, "shards": 1, "sent": 1, "unsent": 0})
            observability.shard_messages_skipped(stale=1, duplicate=1)
    found = set()
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            [dimension_names] = directive["Dimensions"]
            dimensions = tuple(sorted((d, document[d]) for d in dimension_names))
            found |= {(directive["Namespace"], metric["Name"], dimensions) for metric in directive["Metrics"]}
    assert {name for _, name, _ in found} >= {"TimerStartLag", "BillingFailures", "ShardMessagesSent"}, found
    return found


def stale(found, generated) -> str:
    """Why a template's dashboard is not the generated one, in a line; empty when it is."""
    if found is None:
        return "no Resources.Dashboard: run python infra/dashboard.py --write"
    if found != generated:
        return "Resources.Dashboard is stale: run python infra/dashboard.py --write"
    return ""


def test_the_committed_dashboard_is_the_generated_one(generated):
    problem = stale(resources()["Resources"].get("Dashboard"), generated)
    assert not problem, problem


def test_every_metric_of_ours_on_the_dashboard_is_one_the_code_emits(body, capsys, monkeypatch):
    emitted = emitted_metrics(capsys, monkeypatch)
    namespaces = {namespace for namespace, _, _ in emitted}
    ours = {(n, m, d) for n, m, d, _, _ in graphed(body) if n in namespaces}
    assert ours and ours <= emitted, sorted(ours - emitted)


def test_every_metric_the_code_emits_is_on_the_dashboard(body, capsys, monkeypatch):
    emitted = emitted_metrics(capsys, monkeypatch)
    shown = {(n, m, d) for n, m, d, _, _ in graphed(body)}
    assert emitted <= shown, sorted(emitted - shown)


def test_every_alarm_has_its_metric_on_the_dashboard_as_it_evaluates_it(body):
    shown, maths = graphed(body), expressions(body)
    assert alarms(resources())
    for name, props in alarms(resources()).items():
        if "Metrics" in props:  # metric math: its queries and its expression
            stats = [m["MetricStat"] for m in props["Metrics"] if "MetricStat" in m]
            wanted = [(s["Metric"], s["Stat"], s["Period"]) for s in stats]
            assert {m["Expression"] for m in props["Metrics"] if "Expression" in m} <= maths, name
        else:
            stat = props.get("Statistic", props.get("ExtendedStatistic"))
            wanted = [(props, stat, props["Period"])]
        for metric, stat, period in wanted:
            dimensions = tuple(sorted((d["Name"], as_sub(d["Value"])) for d in metric["Dimensions"]))
            key = (metric["Namespace"], metric["MetricName"], dimensions, stat, period)
            assert key in shown, f"{name}: {key} is not graphed"


def test_the_alarm_widget_shows_every_alarm(body):
    [widget] = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    assert widget["alarms"] == ["${" + name + ".Arn}" for name in alarms(resources())]


def test_every_substitution_names_a_resource_parameter_or_pseudo_parameter(generated):
    template = resources()
    text = generated["Properties"]["DashboardBody"]["Fn::Sub"]
    names = SUBSTITUTION.findall(text)
    assert {"AWS::Region", "SessionsTable", "APIHandler", "BillActiveSessions", "BillShards"} <= set(names)
    assert {"ShardQueue.QueueName", "ShardDeadLetterQueue.QueueName"} <= set(names)
    for name in names:
        if name.startswith("!"):  # a literal ${...}
            continue
        resource, dot, attribute = name.partition(".")
        if dot:
            assert resource in template["Resources"], name
            # An alarm's ARN, or the name AWS/SQS publishes a queue's metrics under.
            kind = template["Resources"][resource]["Type"]
            assert attribute == "Arn" or (kind, attribute) == ("AWS::SQS::Queue", "QueueName"), name
        else:
            assert name in template["Resources"] or name in template["Parameters"] or name in PSEUDO_PARAMETERS, name
    assert generated["Properties"]["DashboardName"] == {"Ref": "AWS::StackName"}
    assert generated["Type"] == "AWS::CloudWatch::Dashboard"


def test_the_body_is_compact_json_that_stays_valid_once_substituted(generated):
    text = generated["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(SUBSTITUTION.sub("placeholder-name", text))
    assert json.dumps(json.loads(text), separators=(",", ":")) == text
    cells = set()
    for widget in body["widgets"]:
        assert {"type", "x", "y", "width", "height", "properties"} <= set(widget), widget
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not area & cells, f"{widget['properties'].get('title')} overlaps another widget"
        cells |= area
    for props in metric_widgets(body):
        assert props["region"] == "placeholder-name" and props["metrics"] and props["title"]
        ids = [row[-1]["id"] for row in props["metrics"] if isinstance(row[-1], dict) and "id" in row[-1]]
        assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z]\w*", i) for i in ids), ids


def test_the_script_checks_and_writes_a_template_file(tmp_path):
    original = resources()
    original["Resources"].pop("Dashboard", None)
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(original, indent=2) + "\n")

    def run(*args):
        return subprocess.run(
            [sys.executable, str(SCRIPT), *args, "--template", str(path)], capture_output=True, text=True, timeout=60
        )

    assert run("--check").returncode == 1
    assert run("--write").returncode == 0
    written = path.read_text()
    data = json.loads(written)
    assert written == json.dumps(data, indent=2) + "\n"
    assert data["Resources"].pop("Dashboard") == dashboard_module().dashboard(original)
    assert data == original
    assert run("--check").returncode == 0
    assert run("--write").returncode == 0 and path.read_text() == written


def test_deployed_stages_that_disagree_have_no_one_dashboard():
    config = json.loads(CHALICE_CONFIG.read_text())
    config["stages"].setdefault("dev", {})["lambda_timeout"] = 900
    config["stages"]["dev"].pop("lambda_functions", None)
    with pytest.raises(ValueError, match="disagree"):
        dashboard_module().dashboard(resources(), config)


def test_the_packaged_template_holds_the_dashboard_and_names_what_it_packaged(template):
    problem = stale(template.resources.get("Dashboard"), dashboard_module().dashboard(resources()))
    assert not problem, problem
    body = json.loads(template.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    shown = graphed(body)
    api = {dimensions for namespace, _, dimensions, _, _ in shown if namespace == "AWS/ApiGateway"}
    assert api == {(("ApiName", as_sub(template.api["Name"])), ("Stage", template.api["StageName"]))}
    functions = {
        dict(dimensions)["FunctionName"] for namespace, _, dimensions, _, _ in shown if namespace == "AWS/Lambda"
    }
    handlers = ("app.app", "app.bill_active_sessions", "app.bill_shards")
    assert functions == {"${" + template.function_by_handler(handler) + "}" for handler in handlers}
