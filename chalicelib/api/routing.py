"""Route options fixed when the API is defined: the authorizer and CORS.

These are read when Chalice imports app.py. `chalice package/deploy/local --stage X` set the
stage's environment variables before that import, and API Gateway's definition is built from
them; at run time identity is checked again from the stage (api/identity.py).
"""
import os

from chalice import CognitoUserPoolAuthorizer, CORSConfig

DEPLOYED_STAGES = ("dev", "prod")


def _stage() -> str:
    return os.environ.get("STAGE", "")


def user_authorizer():
    """Cognito in deployed stages only: locally it would let everything through and its JWT
    decoding crashes the local server on a malformed Authorization header."""
    if _stage() not in DEPLOYED_STAGES:
        return None
    arn = os.environ.get("COGNITO_USER_POOL_ARN", "")
    return CognitoUserPoolAuthorizer("CognitoUserPool", provider_arns=[arn])


def cors() -> CORSConfig:
    allowed = ["Content-Type", "Authorization"]
    if _stage() not in DEPLOYED_STAGES:
        allowed.append("X-User-Id")
    return CORSConfig(
        allow_origin=os.environ.get("CORS_ORIGIN", "http://localhost:8002"),
        allow_headers=allowed,
        expose_headers=["Location", "Retry-After"],
        max_age=600,
    )


def user_route_options() -> dict:
    return {"authorizer": user_authorizer(), "cors": cors()}
