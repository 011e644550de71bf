"""Route options fixed when the API is defined: the authorizer and CORS.

These are read when Chalice imports app.py. `chalice package --stage X` sets the stage's
environment variables before that import, and API Gateway's definition is built from them;
at run time identity is checked again from the stage (api/identity.py).

In the packaged template, infra/resources.json replaces two of the values written here with
template parameters, so that one package deploys against any user pool and frontend:
the authorizer's pool (`CognitoUserPoolArn`) and the preflight's origin (`FrontendOrigin`,
which the functions also receive as CORS_ORIGIN for their own responses).
tests/infra checks that no value from here survives in the template.

CORSConfig carries one origin, which is all a deployed stage allows. The local stage answers
per request instead (local/api_server.py asks `local_allowed_origin`): its page is reached as
localhost, 127.0.0.1 or [::1], three different origins to a browser.
"""

from typing import Optional, Tuple

from chalice import CognitoUserPoolAuthorizer, CORSConfig

from chalicelib.settings import current

DEPLOYED_STAGES = ("dev", "prod")
AUTHORIZER_NAME = "CognitoUserPool"
POOL_SET_BY_TEMPLATE = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_SetByTemplate"


def _stage() -> str:
    return current().stage


def user_authorizer():
    """Cognito in deployed stages only: locally it would let everything through and its JWT
    decoding crashes the local server on a malformed Authorization header."""
    if _stage() not in DEPLOYED_STAGES:
        return None
    return CognitoUserPoolAuthorizer(AUTHORIZER_NAME, provider_arns=[POOL_SET_BY_TEMPLATE])


def cors() -> CORSConfig:
    allowed = ["Content-Type", "Authorization"]
    if _stage() not in DEPLOYED_STAGES:
        allowed.append("X-User-Id")
    return CORSConfig(
        allow_origin=current().cors_origin,
        allow_headers=allowed,
        expose_headers=["Location", "Retry-After"],
        max_age=600,
    )


# The names a browser may use for this machine; an IPv6 host is bracketed in an origin.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def loopback_origins(port: int) -> Tuple[str, ...]:
    """Every origin of a page served over http on `port` of this machine."""
    return tuple(f"http://{host}:{port}" for host in LOOPBACK_HOSTS)


def local_allowed_origin(request_origin: Optional[str], configured_origin: str, web_port: int) -> Optional[str]:
    """The Access-Control-Allow-Origin the local stage answers a request's Origin with, or None.

    Allowed: the chat page of WEB_PORT under any loopback name (the servers bind 127.0.0.1,
    the banner says localhost), and the configured origin (CORS_ORIGIN). Compared exactly, as
    browsers send it: no wildcard, no "null", nothing else. Deployed stages never ask this.
    """
    if not request_origin:
        return None
    allowed = {configured_origin, *loopback_origins(web_port)}
    return request_origin if request_origin in allowed else None


def user_route_options() -> dict:
    return {"authorizer": user_authorizer(), "cors": cors()}
