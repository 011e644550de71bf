"""The API Gateway definition: who may call what, from which origin, and what errors look like."""

import json
import re

import pytest

from chalicelib.api.route_options import AUTHORIZER_NAME, POOL_SET_BY_TEMPLATE

PUBLIC_ROUTES = {("/health", "get")}
ORIGIN_FROM_PARAMETER = {"Fn::Sub": "'${FrontendOrigin}'"}
GATEWAY_ERRORS = {
    # What API Gateway answers by itself, and the codes the app uses for the same cases.
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),  # unknown path or method
    "UNAUTHORIZED": ("401", "unauthenticated"),
    "ACCESS_DENIED": ("403", "forbidden"),
    "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type"),
    "REQUEST_TOO_LARGE": ("413", "payload_too_large"),
    "BAD_REQUEST_BODY": ("400", "invalid_request"),
    "BAD_REQUEST_PARAMETERS": ("400", "invalid_request"),
    "THROTTLED": ("429", "throttled"),
    "INTEGRATION_TIMEOUT": ("504", "timeout"),
    "DEFAULT_4XX": (None, "bad_request"),
    "DEFAULT_5XX": (None, "internal_error"),
}


def test_every_user_route_needs_the_cognito_authorizer_and_health_does_not(template):
    routes = {(path, method): op.get("security") for path, method, op in template.operations()}
    assert set(routes) > PUBLIC_ROUTES
    assert len(routes) > len(PUBLIC_ROUTES)
    for route, security in routes.items():
        if route in PUBLIC_ROUTES:
            assert security is None, route
        else:
            assert security == [{AUTHORIZER_NAME: []}], route


def test_the_user_pool_is_a_template_parameter(template):
    authorizer = template.api["DefinitionBody"]["securityDefinitions"][AUTHORIZER_NAME]
    assert authorizer["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [{"Ref": "CognitoUserPoolArn"}]
    assert POOL_SET_BY_TEMPLATE not in template.path.read_text()
    pattern = re.compile(template.parameters["CognitoUserPoolArn"]["AllowedPattern"])
    assert pattern.match("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123xyZ")
    assert not pattern.match("")
    assert not pattern.match("arn:aws:iam::123456789012:role/x")


def test_cors_allows_only_the_frontend_origin_parameter(template):
    origin = re.compile(template.parameters["FrontendOrigin"]["AllowedPattern"])
    assert origin.match("https://chat.example.com") and origin.match("https://chat.example.com:8443")
    for wrong in ("*", "https://*.example.com", "http://chat.example.com", "https://chat.example.com/", ""):
        assert not origin.match(wrong), wrong
    preflights = dict(template.preflights())
    assert {path for path, _, _ in template.operations()} == set(preflights)
    for path, options in preflights.items():
        headers = options["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == ORIGIN_FROM_PARAMETER, path
        # The local identity header is no business of a deployed stage's browser.
        assert "X-User-Id" not in headers["method.response.header.Access-Control-Allow-Headers"], path
    for name, function in template.functions.items():
        assert function["Properties"]["Environment"]["Variables"]["CORS_ORIGIN"] == {"Ref": "FrontendOrigin"}, name


def test_no_literal_origin_or_wildcard_reaches_the_template(template):
    text = template.path.read_text()
    assert "localhost" not in text
    assert "'*'" not in text


def test_overrides_only_touch_routes_the_app_has(template):
    # A route removed from the app but still overridden in infra/resources.json would leave
    # a path with a bare preflight: API Gateway would serve a route that does not exist.
    for path, methods in template.api["DefinitionBody"]["paths"].items():
        assert set(methods) - {"options"}, path


@pytest.mark.parametrize("response_type", sorted(GATEWAY_ERRORS))
def test_gateway_errors_carry_the_project_error_body(template, response_type):
    status, code = GATEWAY_ERRORS[response_type]
    response = template.api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"][response_type]
    assert response.get("statusCode") == status
    # $context.error.messageString is API Gateway's message already quoted as a JSON string.
    body = response["responseTemplates"]["application/json"].replace("$context.error.messageString", '"text"')
    parsed = json.loads(body)
    assert set(parsed) == {"error", "message"} and parsed["error"] == code and parsed["message"]
    # Without CORS headers a browser sees a network error instead of the 401 that says
    # "sign in again".
    assert response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == ORIGIN_FROM_PARAMETER


def test_the_api_is_named_after_its_stack(template):
    # Metric dimensions (ApiName) and the console list tell a dev stack from a prod one.
    assert template.api["Name"] == {"Ref": "AWS::StackName"}
