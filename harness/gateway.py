"""The deployed stage's handler called in-process with API Gateway REST (v1) events as the
gateway builds them: its routing, its percent-decoding and its Cognito authorizer's context."""

import json
import uuid
from typing import Any, Optional
from urllib.parse import unquote

from chalice.local import LambdaContext

from app import app

DEFAULT: Any = object()
EXECUTE_API_HOST = "xyz.execute-api.us-east-1.amazonaws.com"


def lambda_context() -> LambdaContext:
    # Time is not what these tests are about: a slow shared machine must not turn the store's
    # deadline (api/invocation.py) into a 503.
    return LambdaContext("api_handler", 512, max_runtime_ms=60_000)


class RestGateway:
    """What API Gateway REST hands the Lambda for a request to `host` + a public path.

    `base_path` is the part of the URL API Gateway does not route on: the stage at the
    execute-api URL, the base path mapping at a custom domain. `requestContext.path` is the
    path as the client sent it; the top-level `path` drops the stage at the execute-api URL
    and keeps a custom domain's base path (as API Gateway does). Path parameters arrive
    percent-decoded. Identity is the Cognito authorizer's `sub` claim.
    """

    ROUTES = (("POST", "/sessions"), ("GET", "/sessions/{session_id}"), ("POST", "/sessions/{session_id}/end"))

    def __init__(self, host: str, base_path: str, clock):
        self.host, self.base_path, self.clock = host, base_path, clock

    def _route(self, method: str, routed_path: str):
        sent = routed_path.split("/")
        for route_method, resource in self.ROUTES:
            template = resource.split("/")
            if route_method != method or len(template) != len(sent):
                continue
            pairs = list(zip(template, sent, strict=True))
            if all((t.startswith("{") and s) or t == s for t, s in pairs):
                params = {t.strip("{}"): unquote(s) for t, s in pairs if t.startswith("{")}
                return resource, params or None
        raise AssertionError(f"API Gateway has no route for {method} {routed_path}")

    def event(self, method: str, public_path: str, sub: Optional[str], body=None, authorizer: Any = DEFAULT) -> dict:
        """`authorizer` replaces the context API Gateway's authorizer passes (claims of `sub`)."""
        assert public_path.startswith(f"{self.base_path}/"), (public_path, self.base_path)
        routed_path = public_path[len(self.base_path) :]
        resource, params = self._route(method, routed_path)
        return {
            "resource": resource,
            "path": routed_path if self.host == EXECUTE_API_HOST else public_path,
            "httpMethod": method,
            "headers": {"Content-Type": "application/json", "Host": self.host},
            "multiValueHeaders": {"Content-Type": ["application/json"], "Host": [self.host]},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": params,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "abc123",
                "resourcePath": resource,
                "httpMethod": method,
                "path": public_path,
                "stage": "api",
                "domainName": self.host,
                "apiId": "xyz",
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": self.clock.now_ms,
                "identity": {"sourceIp": "203.0.113.7"},
                "authorizer": {"claims": {"sub": sub}} if authorizer is DEFAULT else authorizer,
            },
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
        }

    def send(self, method: str, public_path: str, sub: Optional[str], body=None, authorizer: Any = DEFAULT):
        answer = app(self.event(method, public_path, sub, body, authorizer), lambda_context())
        return answer["statusCode"], json.loads(answer["body"]), answer["headers"]
