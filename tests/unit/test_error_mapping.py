"""The contract: every error is JSON {"error": CODE, "message": text} with a stable CODE and the
status of the contract's table; Chalice's own error bodies are reshaped to the same form."""

import importlib
import inspect
import json
import pkgutil
import re

import pytest
from chalice import BadRequestError, Response

from chalicelib.api import errors as api_errors
from chalicelib.domain import errors as domain_errors
from chalicelib.domain.errors import DomainError


def all_subclasses(cls):
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_subclasses(sub))
    return found


def _import_the_code():
    """Import every module of chalicelib so that a DomainError defined anywhere is seen."""
    import chalicelib

    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


_import_the_code()
DOMAIN_ERRORS = sorted(
    (
        cls
        for cls in all_subclasses(DomainError)
        if not inspect.isabstract(cls) and cls.__module__.startswith("chalicelib.")
    ),
    key=lambda cls: cls.__name__,
)


def make_error(cls):
    if cls is domain_errors.ActiveSessionExists:
        return cls("sess_other_01")
    if cls is domain_errors.SessionNotFound:
        return cls("sess_missing")
    if cls is domain_errors.ServiceUnavailable:
        return cls(retry_after=7)
    return cls("something is wrong")


def respond(error):
    @api_errors.json_errors
    def view():
        raise error

    return view()


def wire(response):
    """The response as API Gateway would send it: status, headers, parsed JSON body."""
    as_dict = response.to_dict(binary_types=[])
    return as_dict["statusCode"], as_dict["headers"], json.loads(as_dict["body"])


def test_the_domain_has_the_errors_spec_needs():
    names = {cls.__name__ for cls in DOMAIN_ERRORS}
    assert {
        "InvalidRequest",
        "Unauthenticated",
        "SessionNotFound",
        "AdvisorNotFound",
        "InsufficientCredit",
        "ActiveSessionExists",
        "SessionIdTaken",
        "ServiceUnavailable",
    } <= names


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_has_an_http_status(cls):
    assert cls in api_errors.STATUS
    assert 400 <= api_errors.STATUS[cls] <= 599


@pytest.mark.parametrize(
    "cls, status",
    [
        (domain_errors.InvalidRequest, 400),
        (domain_errors.Unauthenticated, 401),
        (domain_errors.InsufficientCredit, 402),
        (domain_errors.SessionNotFound, 404),
        (domain_errors.AdvisorNotFound, 404),
        (domain_errors.ActiveSessionExists, 409),
        (domain_errors.SessionIdTaken, 409),
        (domain_errors.ServiceUnavailable, 503),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_spec_statuses(cls, status):
    assert api_errors.STATUS[cls] == status
    assert wire(respond(make_error(cls)))[0] == status


def test_codes_are_stable_distinct_snake_case():
    codes = [cls.code for cls in DOMAIN_ERRORS]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code), code
        assert code != DomainError.code


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_error_body_is_exactly_error_and_message(cls):
    error = make_error(cls)
    status, headers, body = wire(respond(error))
    expected_keys = {"error", "message"}
    if cls is domain_errors.ActiveSessionExists:
        expected_keys.add("active_session_id")
    assert set(body) == expected_keys
    assert body["error"] == cls.code
    assert isinstance(body["message"], str) and body["message"]
    assert status == api_errors.STATUS[cls]
    assert headers["Content-Type"].startswith("application/json")
    if cls is domain_errors.ServiceUnavailable:
        assert headers["Retry-After"] == "7"
    else:
        assert "Retry-After" not in headers


def test_active_session_exists_names_the_other_session():
    _, _, body = wire(respond(domain_errors.ActiveSessionExists("sess_other_01")))
    assert body["active_session_id"] == "sess_other_01"
    assert body["error"] == "active_session_exists"


def test_session_not_found_does_not_echo_the_id():
    # To a stranger the session does not exist: the answer is the same for every id.
    _, _, one = wire(respond(domain_errors.SessionNotFound("sess_secret_1")))
    _, _, two = wire(respond(domain_errors.SessionNotFound("sess_secret_2")))
    assert one == two
    assert "sess_secret" not in json.dumps(one)


def test_service_unavailable_default_retry_after():
    _, headers, body = wire(respond(domain_errors.ServiceUnavailable()))
    assert body["error"] == "service_unavailable"
    assert int(headers["Retry-After"]) >= 1


def test_an_unexpected_exception_is_a_json_500_without_a_trace():
    secret = "token=abc123 Traceback internals"
    status, headers, body = wire(respond(RuntimeError(secret)))
    assert status == 500
    assert set(body) == {"error", "message"}
    assert isinstance(body["error"], str) and body["error"]
    assert "abc123" not in json.dumps(body)
    assert "Traceback" not in json.dumps(body)


def test_a_successful_view_passes_through_untouched():
    @api_errors.json_errors
    def view():
        return {"status": "ok"}

    assert view() == {"status": "ok"}


# --- Chalice's own error bodies ---


def test_reshape_bad_request():
    response = Response(body={"Code": "BadRequestError", "Message": "x"}, status_code=400)
    reshaped = api_errors.reshape_framework_error(response)
    status, headers, body = wire(reshaped)
    assert body == {"error": "bad_request", "message": "x"}
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "code, status, expected",
    [
        ("BadRequest", 400, "bad_request"),  # Chalice's invalid JSON body
        ("MethodNotAllowedError", 405, "method_not_allowed"),
        ("UnsupportedMediaType", 415, "unsupported_media_type"),
        ("NotFoundError", 404, "not_found"),
        ("ForbiddenError", 403, "forbidden"),
        ("TooManyRequestsError", 429, "too_many_requests"),
    ],
)
def test_reshape_chalice_codes(code, status, expected):
    response = Response(body={"Code": code, "Message": "why"}, status_code=status)
    got_status, _, body = wire(api_errors.reshape_framework_error(response))
    assert body == {"error": expected, "message": "why"}
    assert got_status == status


def test_reshape_keeps_other_headers():
    response = Response(
        body={"Code": "MethodNotAllowedError", "Message": "no"}, status_code=405, headers={"Allow": "GET"}
    )
    _, headers, _ = wire(api_errors.reshape_framework_error(response))
    assert headers["Allow"] == "GET"


def test_reshape_a_chalice_raised_error_response():
    # The body Chalice itself builds when a view raises one of its errors.
    from chalice.app import error_response

    error = BadRequestError("bad json")
    response = error_response(message=str(error), error_code=error.__class__.__name__, http_status_code=400)
    _, _, body = wire(api_errors.reshape_framework_error(response))
    assert body == {"error": "bad_request", "message": "bad json"}


@pytest.mark.parametrize(
    "response",
    [
        Response(body={"status": "ok"}, status_code=200),
        Response(body={"error": "invalid_request", "message": "m"}, status_code=400),
        Response(body={"Code": "X", "Message": "looks like an error"}, status_code=200),
    ],
    ids=["ok", "already-ours", "2xx-with-Code"],
)
def test_reshape_leaves_other_responses_alone(response):
    before = dict(response.body)
    assert api_errors.reshape_framework_error(response).body == before
