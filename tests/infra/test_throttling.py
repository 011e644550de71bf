"""Throttling and the optional WAF on the packaged API (docs/deploy.md, "Throttling and WAF").

API Gateway throttles the stage (a default limit for every method) and each route on its own,
from template parameters whose defaults come from docs/scaling.md's request rates; GET /health,
which needs no token, is answered by API Gateway itself and never runs the Lambda; a web ACL
that limits each client address is there only when a deployer asks for it.
"""

import json
import re

import pytest
from chalice.test import Client

from app import app
from tests.infra.packaged import PROJECT

ORIGIN_FROM_PARAMETER = {"Fn::Sub": "'${FrontendOrigin}'"}
# Each route's own limits: (path as in the DefinitionBody, method) -> the parameters' prefix.
ROUTE_LIMITS = {
    ("/sessions", "POST"): "Start",
    ("/sessions/{session_id}", "GET"): "Poll",
    ("/sessions/{session_id}/end", "POST"): "End",
    ("/health", "GET"): "Health",
}
LAMBDA_ROUTES = ("Start", "Poll", "End")
# docs/scaling.md: 100 000 concurrent sessions of 20 minutes, each page polling every 15 s.
SESSIONS, POLL_EVERY_S, SESSION_S = 100_000, 15, 20 * 60
DESIGN_RATES = {"Poll": SESSIONS / POLL_EVERY_S, "Start": SESSIONS / SESSION_S, "End": SESSIONS / SESSION_S}
# The account's default regional REST API quota (a soft limit), requests/s and burst.
ACCOUNT_RATE, ACCOUNT_BURST = 10_000, 5_000


def default(template, parameter) -> float:
    declared = template.parameters[parameter]
    assert declared["Type"] == "Number", parameter
    # 0 would refuse every request: a limit is never below 1.
    assert declared["MinValue"] >= 1, parameter
    return float(declared["Default"])


def holds(template, condition: str, **values) -> bool:
    """A template condition's value for the given parameter values (the rest at their default)."""

    def value(node):
        if not isinstance(node, dict):
            return node
        [(function, argument)] = node.items()
        if function == "Ref":
            return values.get(argument, template.parameters[argument].get("Default"))
        if function == "Condition":
            return value(template.data["Conditions"][argument])
        if function == "Fn::Equals":
            left, right = (value(side) for side in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not value(argument[0])
        if function == "Fn::And":
            return all(value(part) for part in argument)
        if function == "Fn::Or":
            return any(value(part) for part in argument)
        raise AssertionError(f"no evaluation for {function}")

    return value(template.data["Conditions"][condition])


def test_the_whole_stage_is_throttled_by_its_parameters(template):
    settings = template.method_settings()
    stage = settings["/*", "*"]
    assert stage["ThrottlingRateLimit"] == {"Ref": "StageRateLimit"}
    assert stage["ThrottlingBurstLimit"] == {"Ref": "StageBurstLimit"}
    assert default(template, "StageRateLimit") <= ACCOUNT_RATE
    assert default(template, "StageBurstLimit") <= ACCOUNT_BURST
    # The throttling came in next to the stage's other settings, not instead of them.
    assert template.api["TracingEnabled"] is True and template.api["AccessLogSetting"]["DestinationArn"]


def test_each_route_has_its_own_limits_on_a_route_that_exists(template):
    settings = {route: s for route, s in template.method_settings().items() if route != ("/*", "*")}
    assert set(settings) == set(ROUTE_LIMITS)
    paths = template.api["DefinitionBody"]["paths"]
    for (path, method), setting in settings.items():
        # A setting for a path or method the API lacks is accepted by API Gateway and does nothing.
        assert method.lower() in paths.get(path, {}), (path, method)
        prefix = ROUTE_LIMITS[path, method]
        assert setting["ThrottlingRateLimit"] == {"Ref": f"{prefix}RateLimit"}, path
        assert setting["ThrottlingBurstLimit"] == {"Ref": f"{prefix}BurstLimit"}, path
    # A new route gets its own limits, or is added here knowingly.
    routes = {(path, method.upper()) for path, method, _ in template.operations()}
    assert routes == set(ROUTE_LIMITS)


def test_the_default_limits_carry_100k_sessions_and_stay_under_the_stage(template):
    stage_rate, stage_burst = default(template, "StageRateLimit"), default(template, "StageBurstLimit")
    for prefix in ROUTE_LIMITS.values():
        rate, burst = default(template, f"{prefix}RateLimit"), default(template, f"{prefix}BurstLimit")
        assert rate <= stage_rate and burst <= stage_burst, prefix
        assert burst >= rate / 2, prefix  # at least half a second's worth of requests at once
    for prefix, design_rate in DESIGN_RATES.items():
        assert default(template, f"{prefix}RateLimit") > design_rate, prefix
    # Together the routes that run the Lambda stay within what the stage is sized for.
    assert sum(default(template, f"{prefix}RateLimit") for prefix in LAMBDA_ROUTES) <= stage_rate


def health_operation(template) -> dict:
    return template.api["DefinitionBody"]["paths"]["/health"]["get"]


def test_health_is_answered_by_api_gateway_without_the_lambda(template):
    operation = health_operation(template)
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "mock"
    # Chalice leaves the route out when packaging (api/health.py): no Lambda proxy to merge
    # over, so the mock carries no backend address at all.
    assert "uri" not in integration and "httpMethod" not in integration
    text = json.dumps(integration)
    assert "lambda" not in text.lower() and "APIHandler" not in text
    assert "security" not in operation
    assert json.loads(integration["requestTemplates"]["application/json"]) == {"statusCode": 200}
    response = integration["responses"]["default"]
    assert response["statusCode"] == "200"
    headers = response["responseParameters"]
    assert headers["method.response.header.Content-Type"] == "'application/json'"
    assert headers["method.response.header.Access-Control-Allow-Origin"] == ORIGIN_FROM_PARAMETER
    # API Gateway sends only the headers the method response declares.
    declared = operation["responses"]["200"]["headers"]
    assert {"Content-Type", "Access-Control-Allow-Origin"} <= set(declared)


def test_the_packaged_app_has_no_health_route_for_lambda_to_serve(template):
    # Every Lambda integration the template holds is a route of the packaged app; /health is none.
    lambda_paths = {
        path
        for path, operations in template.api["DefinitionBody"]["paths"].items()
        for operation in operations.values()
        if isinstance(operation, dict)
        and operation.get("x-amazon-apigateway-integration", {}).get("type") == "aws_proxy"
    }
    assert lambda_paths and "/health" not in lambda_paths


def test_the_mock_answers_exactly_what_the_apps_health_route_answers(template):
    with Client(app, stage_name="local") as client:
        answer = client.http.get("/health")
    assert answer.status_code == 200
    mocked = health_operation(template)["x-amazon-apigateway-integration"]["responses"]["default"]
    assert mocked["responseTemplates"]["application/json"] == answer.body.decode()


def test_the_web_acl_is_off_by_default_and_limits_each_client_address_when_asked(template):
    acl = template.resources["ApiWebAcl"]
    association = template.resources["ApiWebAclAssociation"]
    assert acl["Type"] == "AWS::WAFv2::WebACL"
    assert association["Type"] == "AWS::WAFv2::WebACLAssociation"
    assert template.parameters["WafRequestsPer5MinutesPerIp"]["Default"] == 0
    assert template.parameters["ExistingWebAclArn"]["Default"] == ""
    # Off by default: neither resource exists.
    assert not holds(template, acl["Condition"])
    assert not holds(template, association["Condition"])
    # A limit creates the web ACL and attaches it.
    assert holds(template, acl["Condition"], WafRequestsPer5MinutesPerIp="2000")
    assert holds(template, association["Condition"], WafRequestsPer5MinutesPerIp="2000")
    chosen = association["Properties"]["WebACLArn"]["Fn::If"]
    assert chosen[1:] == [{"Ref": "ExistingWebAclArn"}, {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}]
    assert not holds(template, chosen[0], WafRequestsPer5MinutesPerIp="2000")
    # An existing web ACL is attached instead, and none is created.
    existing = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shared/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    assert re.match(template.parameters["ExistingWebAclArn"]["AllowedPattern"], existing)
    for limit in ("0", "2000"):
        assert holds(template, chosen[0], ExistingWebAclArn=existing, WafRequestsPer5MinutesPerIp=limit)
        assert holds(template, association["Condition"], ExistingWebAclArn=existing, WafRequestsPer5MinutesPerIp=limit)
        assert not holds(template, acl["Condition"], ExistingWebAclArn=existing, WafRequestsPer5MinutesPerIp=limit)

    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL"  # what an API Gateway stage takes, edge-optimized or not
    assert properties["DefaultAction"] == {"Allow": {}}
    [rule] = properties["Rules"]
    assert rule["Statement"]["RateBasedStatement"] == {
        "Limit": {"Ref": "WafRequestsPer5MinutesPerIp"},
        "AggregateKeyType": "IP",
    }
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 429
    body = json.loads(properties["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
    assert set(body) == {"error", "message"} and body["error"] == "throttled"
    sent = {header["Name"]: header["Value"] for header in block["ResponseHeaders"]}
    assert sent["Access-Control-Allow-Origin"] == {"Ref": "FrontendOrigin"} and sent["Retry-After"].isdigit()
    for visibility in (properties["VisibilityConfig"], rule["VisibilityConfig"]):
        assert visibility["CloudWatchMetricsEnabled"] is True and visibility["MetricName"]


def test_the_web_acl_goes_on_this_apis_stage(template):
    arn = template.resources["ApiWebAclAssociation"]["Properties"]["ResourceArn"]["Fn::Sub"]
    # RestAPI.Stage is SAM's reference to the stage it generates: the association names it
    # and so waits for it.
    assert arn == "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/${RestAPI.Stage}"
    config = json.loads((PROJECT / ".chalice" / "config.json").read_text())
    assert template.api["StageName"] == config["stages"][template.stage]["api_gateway_stage"]


@pytest.mark.parametrize(
    "ids, allowed",
    [("", True), ("1example23456789", True), ("abc123,def456", True), ("abc123, def456", True), ("a;b", False)],
)
def test_the_api_function_is_told_which_app_clients_to_accept(template, ids, allowed):
    api_function = template.functions[template.function_by_handler("app.app")]["Properties"]
    assert api_function["Environment"]["Variables"]["ALLOWED_APP_CLIENT_IDS"] == {"Ref": "AllowedAppClientIds"}
    parameter = template.parameters["AllowedAppClientIds"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""  # empty: any app client of the pool
    assert bool(re.fullmatch(parameter["AllowedPattern"], ids)) is allowed
