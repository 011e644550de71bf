"""Who is calling: the Cognito `sub` claim when deployed, the X-User-Id header only locally."""

from chalicelib.domain.errors import Unauthenticated
from chalicelib.domain.validation import is_foreign_id
from chalicelib.settings import current

LOCAL_HEADER = "x-user-id"


def caller_id(request) -> str:
    if current().is_local:
        value = request.headers.get(LOCAL_HEADER)
    else:
        # Any stage but local ignores the header, even if API Gateway let a request through.
        authorizer = (request.context or {}).get("authorizer") or {}
        value = (authorizer.get("claims") or {}).get("sub")
    if not value:
        raise Unauthenticated("no caller identity")
    if not is_foreign_id(value):
        raise Unauthenticated("the caller identity is malformed")
    return value
