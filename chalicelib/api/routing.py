"""Route options fixed when the API is defined: the authorizer and CORS.

These are read when Chalice imports app.py. `chalice package --stage X` sets the stage's
environment variables before that import, and API Gateway's definition is built from them;
at run time identity is checked again from the stage (api/identity.py).

In the packaged template, infra/resources.json replaces two of the values written here with
template parameters, so that one package deploys against any user pool and frontend:
the authorizer's pool (`CognitoUserPoolArn`) and the preflight's origin (`FrontendOrigin`,
which the functions also receive as CORS_ORIGIN for their own responses).
tests/infra checks that no value from here survives in the template.
"""
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


def user_route_options() -> dict:
    return {"authorizer": user_authorizer(), "cors": cors()}
