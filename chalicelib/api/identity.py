"""Who is calling: the Cognito token's `sub` when deployed, the X-User-Id header only locally.

API Gateway's authorizer has checked the token's signature and expiry before a request gets
here. What it does not check is which app client of the pool the token was made for, and
nothing guarantees the shape of the context it passes: anything unexpected is 401, never 500.
"""

from typing import AbstractSet, Any, Mapping

from chalicelib.domain.errors import Unauthenticated
from chalicelib.domain.validation import is_foreign_id
from chalicelib.settings import current

LOCAL_HEADER = "x-user-id"
# Cognito names the app client in a different claim for each kind of token.
CLIENT_CLAIM = {"id": "aud", "access": "client_id"}


def caller_id(request) -> str:
    settings = current()
    if settings.trusts_local_header:
        value = request.headers.get(LOCAL_HEADER)
    else:
        # Any other stage, or `local` inside Lambda, ignores the header.
        value = token_subject(authorizer_claims(request.context), settings.allowed_app_client_ids)
    if not isinstance(value, str) or not value:
        raise Unauthenticated("no caller identity")
    if not is_foreign_id(value):
        raise Unauthenticated("the caller identity is malformed")
    return value


def _member(container: Any, name: str) -> Any:
    """`container[name]` when it is an object; a missing one is None, a non-object refused."""
    if container is None:
        return None
    if not isinstance(container, Mapping):
        raise Unauthenticated("malformed authorizer context")
    return container.get(name)


def authorizer_claims(context: Any) -> Mapping[str, Any]:
    """The token's claims as the authorizer passed them; {} when there are none."""
    claims = _member(_member(context, "authorizer"), "claims")
    if claims is None:
        return {}
    if not isinstance(claims, Mapping):
        raise Unauthenticated("malformed authorizer context")
    return claims


def token_subject(claims: Mapping[str, Any], allowed_clients: AbstractSet[str]) -> Any:
    """The `sub` of a token of an allowed app client (any client when none are listed).

    The app client is `aud` in an ID token and `client_id` in an access token, so the claim
    read depends on `token_use`; a token of another use (or none) is refused with a list."""
    token_use = claims.get("token_use")
    if token_use is not None and (not isinstance(token_use, str) or token_use not in CLIENT_CLAIM):
        raise Unauthenticated("unsupported token")
    if allowed_clients:
        client = claims.get(CLIENT_CLAIM[token_use]) if token_use else None
        if not isinstance(client, str) or client not in allowed_clients:
            raise Unauthenticated("the token was not issued to an allowed app client")
    return claims.get("sub")
