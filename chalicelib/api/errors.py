"""Domain errors to HTTP, in one place; and Chalice's own error bodies reshaped to ours.

Chalice turns an exception raised in a route into a response before any middleware runs,
so the mapping is a decorator on each route, not a middleware.
"""

import functools
import re

from chalice import Response

from chalicelib import observability
from chalicelib.domain import errors
from chalicelib.observability import logger

STATUS = {
    errors.InvalidRequest: 400,
    errors.Unauthenticated: 401,
    errors.InsufficientCredit: 402,
    errors.SessionNotFound: 404,
    errors.AdvisorNotFound: 404,
    errors.AdvisorUnavailable: 409,
    errors.ActiveSessionExists: 409,
    errors.SessionIdTaken: 409,
    errors.LegacyRecordUnusable: 409,
    errors.PayloadTooLarge: 413,
    errors.ServiceUnavailable: 503,
}

JSON_HEADERS = {"Content-Type": "application/json"}


def error_response(status: int, code: str, message: str, headers=None, **extra) -> Response:
    return Response(
        body={"error": code, "message": message, **extra},
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def _domain_response(error: errors.DomainError) -> Response:
    extra, headers = {}, {}
    if isinstance(error, errors.ActiveSessionExists):
        extra["active_session_id"] = error.active_session_id
    if isinstance(error, errors.LegacyRecordUnusable):
        observability.legacy_unusable(error.session_id, error.problem, event=error.code)
    if isinstance(error, errors.ServiceUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    return error_response(STATUS.get(type(error), 400), error.code, error.message, headers, **extra)


def json_errors(view):
    """Wrap a route so that no input ends in Chalice's 500 with a traceback."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except errors.DomainError as error:
            return _domain_response(error)
        except Exception:  # the contract: never a stack trace, always our error body
            logger.exception("unhandled error")
            return error_response(500, "internal_error", "internal error")

    return wrapper


def _snake(code: str) -> str:
    code = re.sub(r"Error$", "", code) or code
    return re.sub(r"(?<!^)(?=[A-Z])", "_", code).lower()


def reshape_framework_error(response: Response) -> Response:
    """Chalice answers some requests itself ({"Code", "Message"}: bad JSON, 405, 415): give
    them the project's {"error", "message"} body."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "error" not in body:
        code = "internal_error" if response.status_code >= 500 else _snake(str(body["Code"]))
        response.body = {"error": code, "message": str(body.get("Message", ""))}
        response.headers = {**(response.headers or {}), **JSON_HEADERS}
    return response
