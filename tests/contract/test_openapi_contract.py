"""docs/openapi.json against the app itself: routes and methods, the session view's fields and
their JSON types, the error bodies and headers, the input rules. Each check fails in both
directions: something the app has and the document lacks, or the document promises and the
app does not do."""

import json
from pathlib import Path

import pytest
from chalice.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from app import app
from chalicelib.api.errors import STATUS, json_errors
from chalicelib.api.identity import LOCAL_HEADER
from chalicelib.domain import errors
from chalicelib.domain.session import (
    AT_CREATION,
    END_BY_ADVISOR,
    END_BY_USER,
    END_CREDITS_EXHAUSTED,
    ENDED,
    LEGACY_CREATED_AT,
    LEGACY_TIMER_START,
)
from chalicelib.domain.validation import FOREIGN_ID, MAX_BODY_BYTES, SESSION_ID
from chalicelib.domain.view import session_view
from harness.clock import MINUTE_MS, START_MS
from harness.factories import make_session

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
_REGISTRY = Registry().with_resource("urn:openapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT4))
# JSON type of a Python value as json.dumps writes it.
JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null", dict: "object"}


def validator(pointer: str) -> OAS30Validator:
    return OAS30Validator({"$ref": f"urn:openapi#{pointer}"}, registry=_REGISTRY)


def deref(node: dict) -> dict:
    """Follow local $refs (#/components/...) until a concrete object."""
    while "$ref" in node:
        target = DOCUMENT
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method.upper(), operation


def documented_types(prop: dict) -> set:
    prop = deref(prop)
    types = {prop["type"]}
    if prop.get("nullable"):
        types.add("null")
    return types


# ---- the document itself -------------------------------------------------------------------


def test_the_document_is_valid_openapi_3():
    validate_openapi(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.0")


# ---- routes --------------------------------------------------------------------------------


def test_the_apps_routes_and_methods_are_exactly_the_documented_ones():
    in_app = {(path, method) for path, methods in app.routes.items() for method in methods}
    in_document = {(path, method) for path, method, _ in operations()}
    assert in_app - in_document == set(), "routes the document does not describe"
    assert in_document - in_app == set(), "documented routes the app does not serve"


def test_the_local_identity_header_is_the_documented_security_scheme():
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["localUserId"]["in"] == "header"
    assert schemes["localUserId"]["name"].lower() == LOCAL_HEADER
    assert DOCUMENT["paths"]["/health"]["get"]["security"] == []


# ---- the session view ----------------------------------------------------------------------

USER, ADVISOR = "user-1", "advisor-1"
# One of each shape the view can take: active and ended, user and advisor, legacy, credits
# run out, a free rate (nothing caps it).
REPRESENTATIVE = [
    (make_session(), 10_000, USER, START_MS + 15_042),
    (make_session(), 10_000, ADVISOR, START_MS + 15_042),
    (make_session(billed_minutes=2, charged=398), 0, USER, START_MS + 10 * MINUTE_MS),
    (make_session(rate_per_minute=0), 0, USER, START_MS + MINUTE_MS),
    (
        make_session(status=ENDED, ended_at_ms=START_MS + 90_000, end_reason=END_BY_USER, billed_minutes=2),
        9_602,
        USER,
        START_MS + 3_600_000,
    ),
    (
        make_session(status=ENDED, ended_at_ms=START_MS + 61_000, end_reason=END_BY_ADVISOR, billed_minutes=2),
        0,
        ADVISOR,
        START_MS + 62_000,
    ),
    (
        make_session(status=ENDED, ended_at_ms=START_MS + 60_000, end_reason=END_CREDITS_EXHAUSTED, billed_minutes=1),
        0,
        USER,
        START_MS + 99_000,
    ),
    (
        make_session(
            status=ENDED,
            ended_at_ms=None,
            end_reason=None,
            billed_minutes=3,
            timer_init=LEGACY_CREATED_AT,
            schema_version=1,
        ),
        0,
        USER,
        START_MS,
    ),
    (make_session(timer_init=LEGACY_TIMER_START), 500, USER, START_MS - 3),
]


def views():
    return [session_view(session, balance, caller, now) for session, balance, caller, now in REPRESENTATIVE]


def test_every_view_validates_against_the_document():
    check = validator("/components/schemas/SessionView")
    for view in views():
        problems = [error.message for error in check.iter_errors(view)]
        assert problems == [], view


def test_the_views_fields_are_exactly_the_documented_ones():
    documented = SCHEMAS["SessionView"]
    seen = set().union(*(view.keys() for view in views()))
    always = set.intersection(*(set(view) for view in views()))
    assert seen == set(documented["properties"]), "fields on one side only"
    assert always == set(documented["required"]), "required in the document = present in every view"
    assert seen - always == {"balance"}  # the contract: present only when the caller is the user
    timer = SCHEMAS["Timer"]
    assert {key for view in views() for key in view["timer"]} == set(timer["properties"]) == set(timer["required"])


def test_each_fields_json_types_are_exactly_the_documented_ones():
    """e.g. elapsed_seconds is always a JSON number, seconds_remaining a number or null: a
    type the app produces and the document does not allow fails, and so does a documented
    type (null included) that no view ever has."""
    produced = {}
    for view in views():
        for name, value in view.items():
            produced.setdefault(name, set()).add(JSON_TYPE[type(value)])
    for name, prop in SCHEMAS["SessionView"]["properties"].items():
        allowed = documented_types(prop)
        widened = allowed | ({"integer"} if "number" in allowed else set())
        assert produced[name] <= widened, (name, produced[name], allowed)
        assert allowed <= produced[name] | ({"number"} if "integer" in produced[name] else set()), (name, allowed)


def test_elapsed_seconds_is_a_json_number_even_on_a_whole_second():
    view = session_view(make_session(), 10_000, USER, START_MS + 60_000)
    assert json.dumps(view["elapsed_seconds"]) == "60.0"
    assert SCHEMAS["SessionView"]["properties"]["elapsed_seconds"]["type"] == "number"


sessions = st.builds(
    lambda status, billed, rate, ended_after, reason, init: make_session(
        status=status,
        billed_minutes=billed,
        charged=billed * rate,
        rate_per_minute=rate,
        ended_at_ms=None if status != ENDED or ended_after is None else START_MS + ended_after,
        end_reason=reason if status == ENDED else None,
        timer_init=init,
    ),
    status=st.sampled_from(["active", ENDED]),
    billed=st.integers(0, 10_000),
    rate=st.integers(0, 10_000),
    ended_after=st.none() | st.integers(0, 10**10),
    reason=st.sampled_from([END_BY_USER, END_BY_ADVISOR, END_CREDITS_EXHAUSTED]),
    init=st.sampled_from([AT_CREATION, LEGACY_TIMER_START, LEGACY_CREATED_AT]),
)


@settings(max_examples=300, deadline=None)
@given(
    session=sessions,
    balance=st.integers(0, 10**12),
    caller=st.sampled_from([USER, ADVISOR]),
    now_offset=st.integers(-5, 10**11),
)
def test_any_stored_session_gives_a_view_the_document_allows(session, balance, caller, now_offset):
    view = session_view(session, balance, caller, START_MS + now_offset)
    assert [e.message for e in validator("/components/schemas/SessionView").iter_errors(view)] == []


# ---- errors --------------------------------------------------------------------------------


def _raised(error):
    def view():
        raise error

    return json_errors(view)()


# Constructor arguments of the errors that need more than a message.
SAMPLE_ARGS = {"ActiveSessionExists": ("sess_0001",), "LegacyRecordUnusable": ("sess_0001", "no start time")}
# Every error the app maps to HTTP, found from the mapping itself: a new one must be documented.
DOMAIN_ERRORS = [kind(*SAMPLE_ARGS.get(kind.__name__, ("message",))) for kind in STATUS]


def _accepts(documented: dict, body: dict) -> bool:
    schema = documented["content"]["application/json"]["schema"]
    check = OAS30Validator({"$ref": "urn:openapi" + schema["$ref"]}, registry=_REGISTRY)
    return not list(check.iter_errors(body))


@pytest.mark.parametrize("error", DOMAIN_ERRORS, ids=lambda e: type(e).__name__)
def test_every_domain_error_is_documented_with_its_body_and_headers(error):
    response = _raised(error)
    status = str(response.status_code)
    documenting = [
        (method, path, deref(op["responses"][status]))
        for path, method, op in operations()
        if status in op["responses"] and _accepts(deref(op["responses"][status]), response.body)
    ]
    assert documenting, f"no operation documents {status} with a body like {response.body}"
    for method, path, documented in documenting:
        for header, spec in documented.get("headers", {}).items():
            assert header in response.headers, (method, path, header)
            assert int(response.headers[header]) >= deref(spec)["schema"]["minimum"]
    if isinstance(error, errors.ActiveSessionExists):
        assert response.body["active_session_id"] == "sess_0001"


def test_every_documented_error_status_is_one_the_app_produces():
    produced_by_app = {str(code) for code in STATUS.values()}
    documented = {status for _, _, op in operations() for status in op["responses"] if status >= "400"}
    assert documented - produced_by_app == {"415"}  # the framework's: see the test below
    assert produced_by_app <= documented


@pytest.mark.parametrize(
    "method, path", [("post", "/sessions"), ("get", "/sessions/sess_0001"), ("post", "/sessions/sess_0001/end")]
)
def test_the_frameworks_415_has_the_documented_body(method, path):
    with Client(app, stage_name="local") as client:
        response = getattr(client.http, method)(path, headers={"Content-Type": "text/plain"}, body="x")
    assert response.status_code == 415
    body = json.loads(response.body)
    assert [e.message for e in validator("/components/schemas/Error").iter_errors(body)] == []


# ---- input rules ---------------------------------------------------------------------------


def test_the_documented_id_patterns_are_the_ones_the_app_enforces():
    start = SCHEMAS["StartRequest"]["properties"]
    path_id = DOCUMENT["components"]["parameters"]["SessionId"]["schema"]
    assert start["session_id"]["pattern"] == f"^{SESSION_ID.pattern}$"
    assert start["advisor_id"]["pattern"] == f"^{FOREIGN_ID.pattern}$"
    assert path_id["pattern"] == f"^{FOREIGN_ID.pattern}$"
    assert str(MAX_BODY_BYTES) in DOCUMENT["paths"]["/sessions"]["post"]["responses"]["413"]["description"]
